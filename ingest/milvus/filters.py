"""A `ChunkFilter` as a Milvus boolean expression, with the local store's meaning.

`source` is a glob (SQLite GLOB: `*`, `?`) over the file path, anchored at any depth unless it starts with "/" or
"*"; it becomes `file like ...` (`*` -> `%`, `?` -> `_`). `[...]` classes have no `like` form and are refused.
Metadata values compare as text, as the local store's CAST(... AS TEXT) does, so `page=3` also matches a number.
"""

from __future__ import annotations

import math

from ingest.errors import KnowledgeBaseError
from ingest.milvus.collections import in_list, quoted
from ingest.store.records import ChunkFilter


def expression(wanted: ChunkFilter) -> str:
    clauses: list[str] = []
    if wanted.source:
        clauses.append(f"file like {quoted(_like(wanted.source))}")
    if wanted.doc_ids:
        clauses.append(in_list("doc_id", list(wanted.doc_ids)))
    clauses += [_metadata_clause(key, value) for key, value in wanted.metadata.items()]
    return " and ".join(clauses)


def _like(glob: str) -> str:
    if "[" in glob:
        raise KnowledgeBaseError(f"source filter {glob!r}: [...] classes are not supported on a Milvus knowledge "
                                 "base; use * and ? only")
    anchored = glob if glob.startswith(("/", "*")) else "*" + glob
    escaped = anchored.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _metadata_clause(key: str, value: str) -> str:
    field = f"metadata[{quoted(key)}]"
    options = [f"{field} == {quoted(value)}"]
    number = _number(value)
    if number is not None:
        options.append(f"{field} == {number}")
    return "(" + " or ".join(options) + ")"


def _number(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return repr(int(value)) if value.lstrip("-").isdigit() else repr(number)
