"""`llmapp search`: the best chunks of a knowledge base for a query, or for each query of a JSONL file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from llmapp.cli.common import print_json, settings_from

NOTHING = "nothing relevant found"
_BATCH = 64


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: Annotated[str | None, typer.Argument(help="What to look for (or use --queries).")] = None,
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base: a name, a path or milvus://HOST:PORT/NAME.")] = "",
    k: Annotated[int, typer.Option("-k", help="How many hits.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (default), dense or lexical.")] = "hybrid",
    min_score: Annotated[float | None, typer.Option(
        help="Drop hits below this score (higher is better); nothing left means nothing relevant.")] = None,
    source: Annotated[str | None, typer.Option(help="Only files matching this glob, e.g. '*.pdf'.")] = None,
    doc_id: Annotated[list[str] | None, typer.Option("--doc-id", help="Only this document (repeatable).")] = None,
    where: Annotated[list[str] | None, typer.Option(help="Only chunks with metadata key=value (repeatable).")] = None,
    rerank: Annotated[Path | None, typer.Option(help="Local cross-encoder folder to rerank the top hits.")] = None,
    rerank_top: Annotated[int, typer.Option(help="How many candidates the cross-encoder reranks.")] = 20,
    queries: Annotated[Path | None, typer.Option(
        help="JSONL, one {\"id\": ..., \"text\": ...} a line (BEIR _id too); one JSON line out each.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON ({\"hits\": [...]}).")] = False,
) -> None:
    """Search a knowledge base. Scores: higher is better; hybrid scores are in [0, 1] (see docs/retrieval.md)."""
    from llmapp.errors import ConfigError
    from llmapp.retrieve import Filters, open_retriever

    if not kb:
        raise ConfigError("--kb is required: the knowledge base to search (a name or a path)")
    if (query is None) == (queries is None):
        raise ConfigError("give either a QUERY or --queries FILE.jsonl")
    filters = Filters.from_flags(source, doc_id or [], where or [])
    retriever = open_retriever(settings_from(), kb, min_score=min_score, mode=mode, rerank=rerank,
                               rerank_top=rerank_top)
    with retriever:
        if queries is not None:
            _search_file(retriever, queries, k, filters)
            return
        assert query is not None
        hits = retriever.search(query, k=k, filters=filters)
    if as_json:
        print_json({"mode": mode, "hits": [h.to_dict() for h in hits]})
        return
    if not hits:
        typer.echo(NOTHING, err=True)
    for h in hits:
        where_from = h.source + (f" p.{h.metadata['page']}" if "page" in h.metadata else "")
        typer.secho(f"[{h.rank}] {h.score:.3f}  {where_from}  ({h.doc_id} #{h.ordinal})", bold=True)
        typer.echo("    " + " ".join(h.text.split())[:300])


def _search_file(retriever: Any, path: Path, k: int, filters: Any) -> None:
    """One JSON line per query, {"id": ..., "hits": [...]}, queries embedded _BATCH at a time."""
    from llmapp.eval_retrieval import read_queries

    items = list(read_queries(path).items())
    for begin in range(0, len(items), _BATCH):
        batch = items[begin : begin + _BATCH]
        results = retriever.search_many([text for _, text in batch], k=k, filters=filters)
        for (qid, _), hits in zip(batch, results, strict=True):
            sys.stdout.write(json.dumps({"id": qid, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False) + "\n")
        sys.stdout.flush()
