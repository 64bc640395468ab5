"""`llmapp ingest`: add, update and prune documents of a knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from llmapp.cli.common import print_json, settings_from


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (walked recursively).", show_default=False)],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base: a name (under $LLMAPP_HOME, or "
                                               "mapped to Milvus by remote_kbs in llmapp.yaml), a path, or "
                                               "milvus://HOST:PORT/NAME.")],
    include: Annotated[list[str], typer.Option("--include", help="Only files matching this glob (repeatable).")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option("--exclude", help="Skip files matching this glob (repeatable).")] = [],  # noqa: B006
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files are gone.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero if any file or row failed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    embedder: Annotated[str | None, typer.Option(help="New knowledge bases only: 'e5-small' (default; Chinese and "
                                                 "English), 'minilm' (English only), a local "
                                                 "sentence-transformers folder, or 'hash' (tests).")] = None,
    chunk_tokens: Annotated[int | None, typer.Option(help="Chunk budget in embedder tokens [default: window].")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Tokens shared by neighbouring chunks [default: 32].")]
    = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per embedding batch [default: 32].")] = None,
    id_field: Annotated[str | None, typer.Option(help="csv/tsv/jsonl: the id column [default: _id or id].")] = None,
    title_field: Annotated[str | None, typer.Option(help="csv/tsv/jsonl: the title column [default: title].")] = None,
    text_field: Annotated[str | None, typer.Option(help="csv/tsv/jsonl: the text column [default: text, "
                                                   "content, body, passage or context].")] = None,
    max_line_chars: Annotated[int, typer.Option(help="Text files with a longer line are refused as not prose.")]
    = 1_000_000,
    max_file_bytes: Annotated[int, typer.Option(help="Files larger than this are refused.")] = 512 * 2**20,
    device: Annotated[str | None, typer.Option(help="torch device for embedding [default: cuda if present].")] = None,
    precision: Annotated[str | None, typer.Option(help="Embedding arithmetic: auto (on a CPU: bfloat16 with AMX, "
                                                  "else int8 with VNNI, else bfloat16 where a quick probe "
                                                  "measures it faster than float32, else float32; float16 on "
                                                  "CUDA), float32, bfloat16, float16, int8 [default: auto].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    engine: Annotated[str, typer.Option(help="Where chunks are embedded: 'local' (this process) or 'ray' (Ray "
                                             "Data actors, one per CPU; the knowledge base is still written "
                                             "here; needs the 'scale' extra: see docs/scale.md).")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: the cluster (ray://HOST:10001 or 'auto'); "
                                                     "default: a Ray instance on this machine.")] = None,
    actors: Annotated[int | None, typer.Option(min=1, help="With --engine ray: embedding actors; default one per "
                                                           "CPU of the cluster.")] = None,
) -> None:
    """Ingest documents (.txt .md .html .pdf .docx .csv .tsv .jsonl) into a knowledge base.

    Re-running is cheap: unchanged files are skipped, changed files replace exactly their chunks, and only chunk
    texts never seen before are embedded. Bad files are reported and skipped; exit code 1 when nothing at all
    could be ingested (or, with --strict, when anything failed).
    """
    from ingest.embed import load_embedder
    from ingest.loaders import LoadOptions
    from ingest.pipeline import IngestOptions
    from ingest.pipeline import ingest as run_ingest
    from ingest.store.backend import open_store, store_exists
    from ingest.store.dense_index import DensePolicy

    settings = settings_from(chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, embedder=embedder,
                             embed_batch_size=batch_size, device=device,
                             embed_precision=precision)
    kb_path = settings.kb_location(kb)
    _check_paths(paths)
    existed = store_exists(kb_path)
    created = not existed if isinstance(kb_path, str) else not kb_path.exists()
    model = settings.embedder
    if existed:
        built_with = open_store(kb_path).manifest.embedder.name  # after `kb tune`, the tuned one
        model = embedder or built_with
    options = IngestOptions(
        include=include, exclude=exclude, prune=prune, chunk_tokens=chunk_tokens or settings.chunk_tokens,
        chunk_overlap=settings.chosen_chunk_overlap(), batch_size=settings.embed_batch_size, progress=not quiet,
        dense=DensePolicy(ann_threshold=settings.ann_threshold), engine=_embed_engine(engine, address, actors),
        load=LoadOptions(id_field=id_field, title_field=title_field, text_field=text_field,
                         max_line_chars=max_line_chars, max_file_bytes=max_file_bytes),
    )
    embedder_model = load_embedder(model, device=settings.device, precision=settings.embed_precision)
    try:
        report = run_ingest(kb_path, paths, embedder_model, options)
    except BaseException:
        _remove_if_empty(kb_path, created, ingested=False)
        raise
    _remove_if_empty(kb_path, created, report.ingested_anything)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_summary(report, kb_path)
    if not report.ingested_anything or (strict and report.files_failed):
        raise typer.Exit(1)


def _embed_engine(name: str, address: str | None, actors: int | None) -> Any:
    """None for embedding in this process; the Ray engine for --engine ray."""
    from llmapp.errors import ConfigError

    if name == "local":
        if address is not None or actors is not None:
            raise ConfigError("--address and --actors go with --engine ray")
        return None
    if name != "ray":
        raise ConfigError(f"--engine must be 'local' or 'ray', got {name!r}")
    from ingest.ray_embed import ray_embed_engine

    return ray_embed_engine(address=address, actors=actors)


def _check_paths(paths: list[Path]) -> None:
    """Nothing to ingest is an error before anything is created (one missing path among others is reported)."""
    from llmapp.errors import NotFoundError

    if not any(path.exists() for path in paths):
        raise NotFoundError(f"nothing to ingest: {', '.join(map(str, paths))} not found; give existing files "
                            "or folders")


def _remove_if_empty(kb_path: Path | str, created: bool, ingested: bool) -> None:
    """A knowledge base this run created and put nothing in is removed: it would show in `kb list`, the API
    and the web page as an empty base. A folder (or Milvus knowledge base) that existed before is never touched."""
    import shutil

    if not created or ingested:
        return
    if isinstance(kb_path, str):
        from ingest.store.backend import open_store, store_exists

        if store_exists(kb_path):
            open_store(kb_path).drop()  # type: ignore[attr-defined]
    elif kb_path.is_dir():
        shutil.rmtree(kb_path)


def _print_summary(report: object, kb_path: Path | str) -> None:
    r = report.to_dict()  # type: ignore[attr-defined]
    typer.echo(
        f"{kb_path}: {r['files_added']} added, {r['files_updated']} updated, {r['files_unchanged']} unchanged, "
        f"{r['files_removed']} removed, {len(r['files_failed'])} failed; "
        f"{r['chunks_added']} chunks added, {r['chunks_removed']} removed, {r['texts_embedded']} texts embedded "
        f"in {r['seconds']:.1f}s",
        err=True,
    )
    for failure in r["files_failed"]:
        where = f"{failure['path']}:{failure['line']}" if "line" in failure else failure["path"]
        typer.secho(f"  failed: {where}: {failure['error']}", fg=typer.colors.YELLOW, err=True)
