"""`llmapp search`: the best chunks of a knowledge base for a query."""

from __future__ import annotations

from typing import Annotated

import typer

from llmapp.cli.common import print_json, settings_from


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base: a name or a path.")],
    k: Annotated[int, typer.Option("-k", help="How many hits.")] = 5,
    min_score: Annotated[float | None, typer.Option(help="Drop hits scoring below this (higher is better).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {\"hits\": [...]} as JSON.")] = False,
) -> None:
    """Search a knowledge base. Scores: higher is better (cosine similarity for dense search)."""
    from llmapp.retrieve import open_retriever

    retriever = open_retriever(settings_from(), kb, min_score=min_score)
    try:
        hits = retriever.search(query, k=k)
    finally:
        retriever.close()
    if as_json:
        print_json({"hits": [
            {"rank": h.rank, "score": round(h.score, 4), "text": h.text, "source": h.source, "doc_id": h.doc_id,
             "chunk_id": h.chunk_id, "metadata": h.metadata} for h in hits]})
        return
    if not hits:
        typer.echo("nothing relevant found", err=True)
    for h in hits:
        where = h.source + (f" p.{h.metadata['page']}" if "page" in h.metadata else "")
        typer.secho(f"[{h.rank}] {h.score:.3f}  {where}", bold=True)
        typer.echo("    " + " ".join(h.text.split())[:300])
