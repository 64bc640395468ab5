"""The read queries behind `Snapshot`'s typed methods (all SQL against the store's tables is in ingest.store)."""

from __future__ import annotations

from typing import Any

from ingest.store.records import ChunkFilter

ALL_IDS = "SELECT id FROM chunks ORDER BY id"
VECTORS = "SELECT c.id, t.vector FROM chunks c JOIN texts t ON t.id = c.text_id ORDER BY c.id"
TOKENS = "SELECT c.id, t.tokens FROM chunks c JOIN texts t ON t.id = c.text_id ORDER BY c.id"
CHUNKS = (
    "SELECT c.id, t.text, d.file, d.doc_id, d.title, c.ordinal, c.start, c.end, c.n_tokens, d.metadata, c.metadata "
    "FROM chunks c JOIN texts t ON t.id = c.text_id JOIN documents d ON d.id = c.document WHERE c.id IN ({marks})"
)
COUNTS = ("SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
          "(SELECT count(*) FROM texts), "
          "(SELECT count(*) FROM chunks c JOIN texts t ON t.id = c.text_id WHERE length(t.vector) = ?)")
FILES = (
    "SELECT f.path, f.sha256, f.size, f.ingested_at, count(DISTINCT d.id), count(c.id) FROM files f "
    "LEFT JOIN documents d ON d.file = f.path LEFT JOIN chunks c ON c.document = d.id GROUP BY f.path ORDER BY f.path"
)
FILE_PATHS = "SELECT path FROM files ORDER BY path"
# by content hash, not by id: ids follow the order texts were embedded in, which a resumed ingest changes
USED_TEXTS = ("SELECT t.id, t.text, t.vector FROM texts t WHERE t.id IN (SELECT text_id FROM chunks) "
              "ORDER BY t.sha256")


def matching_ids(wanted: ChunkFilter) -> tuple[str, list[Any]]:
    """The query (and its parameters) for the sorted ids of the chunks `wanted` lets through."""
    clauses: list[str] = []
    params: list[Any] = []
    if wanted.source:
        clauses.append("d.file GLOB ?")
        params.append(wanted.source if wanted.source.startswith(("/", "*")) else "*" + wanted.source)
    if wanted.doc_ids:
        clauses.append(f"d.doc_id IN ({','.join('?' * len(wanted.doc_ids))})")
        params += list(wanted.doc_ids)
    for key, value in wanted.metadata.items():
        path = '$."' + key.replace('"', '""') + '"'
        clauses.append("CAST(coalesce(json_extract(c.metadata, ?), json_extract(d.metadata, ?)) AS TEXT) = ?")
        params += [path, path, value]
    where = " AND ".join(clauses) or "1"
    return f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document WHERE {where} ORDER BY c.id", params
