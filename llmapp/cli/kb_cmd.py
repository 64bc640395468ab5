"""`llmapp kb`: list, inspect, edit and delete knowledge bases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmapp.cli.common import print_json, settings_from

kb_app = typer.Typer(help="List, inspect, tune and delete knowledge bases.", no_args_is_help=True,
                     rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")


@kb_app.command("list")
def list_kbs(as_json: Annotated[bool, typer.Option("--json", help="Print the home folder and the names as JSON.")]
             = False) -> None:
    """Knowledge bases under $LLMAPP_HOME."""
    from ingest.store import is_knowledge_base

    home = settings_from().home
    names = sorted(p.name for p in home.iterdir() if is_knowledge_base(p)) if home.is_dir() else []
    if as_json:
        print_json({"home": str(home), "knowledge_bases": names})
        return
    if not names:
        typer.echo(f"no knowledge bases under {home}; create one with `llmapp ingest FILES --kb NAME`", err=True)
    for name in names:
        typer.echo(name)


@kb_app.command("info")
def info(kb: Annotated[str, typer.Argument(help="Name or path.")],
         as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False) -> None:
    """Documents, chunks, vectors, embedder and size on disk."""
    from ingest.store import KnowledgeBase

    base = KnowledgeBase.open(settings_from().kb_path(kb, must_exist=True))
    with base.snapshot() as snap:
        stats = snap.stats()
    if as_json:
        print_json(stats)
        return
    for key in ("path", "files", "documents", "chunks", "unique_texts", "vectors", "bytes"):
        typer.echo(f"{key:>13}: {stats[key]}")
    typer.echo(f"{'embedder':>13}: {stats['embedder']['name']} ({stats['embedder']['dimension']}-d)")
    dense = stats["dense_index"]
    approximate = f"approximate (IVF, {dense['nlist']} lists, nprobe {dense['nprobe']})"
    typer.echo(f"{'dense index':>13}: {approximate if dense['kind'] == 'ivf' else 'exact'}")
    chunking = stats["chunking"]
    typer.echo(f"{'chunking':>13}: {chunking['max_tokens']} tokens, overlap {chunking['overlap_tokens']}")


@kb_app.command("remove")
def remove(kb: Annotated[str, typer.Argument(help="Name or path.")],
           source: Annotated[Path, typer.Argument(help="The source file whose documents to remove.")]) -> None:
    """Remove one source file's documents and chunks."""
    from ingest.store import FileChange, KnowledgeBase

    base = KnowledgeBase.open(settings_from().kb_path(kb, must_exist=True))
    key = str(source.expanduser().resolve())
    with base.writer() as writer:
        if key not in writer.files():
            raise typer.BadParameter(f"{key} is not in {base.path}; see `llmapp kb info {kb}`")
        added, removed = writer.commit([FileChange(path=key)])
        writer.sync_indexes(added, removed)
    typer.echo(f"removed {key}: {len(removed)} chunks", err=True)


@kb_app.command("delete")
def delete(kb: Annotated[str, typer.Argument(help="Name or path.")],
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False) -> None:
    """Delete a whole knowledge base folder."""
    from ingest.store import KnowledgeBase
    from ingest.trash import delete_knowledge_base

    base = KnowledgeBase.open(settings_from().kb_path(kb, must_exist=True))
    if not yes:
        typer.confirm(f"delete {base.path} and everything in it?", abort=True)
    with base.writer():
        delete_knowledge_base(base.path)
    typer.echo(f"deleted {base.path}", err=True)
