"""A read view of a Milvus knowledge base: the `StoreSnapshot` methods plus the searches Milvus runs server-side.

Milvus has no read transactions: a view pins the version number it opened at (what caches key on), but a search
sees every write committed since. Writers replace a file's chunks file by file, so a reader during an ingest can
briefly miss a changed file's chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ingest.lexical import tokenize
from ingest.milvus.bm25 import LexicalQuery, Term, lexical_query
from ingest.milvus.collections import CHUNKS, FILES, TERMS, batches, collection, in_list, scan
from ingest.milvus.filters import expression
from ingest.milvus.meta import read_meta
from ingest.milvus.uri import MilvusLocation
from ingest.store.manifest import Manifest
from ingest.store.records import ChunkFilter, ChunkRecord, FileEntry

# Coverage (llmapp.retrieve.coverage) samples 64 chunks; it reads at most this many to pick them from.
COVERAGE_ROWS = 20000
_RECORD_FIELDS = ["id", "text", "file", "doc_id", "title", "ordinal", "start", "end", "n_tokens", "metadata"]
_FILE_FIELDS = ["path", "sha256", "size", "ingested_at", "documents", "chunks"]


class MilvusSnapshot:
    """What retrieval, coverage and the server read from a Milvus knowledge base."""

    def __init__(self, client: Any, location: MilvusLocation) -> None:
        self.client = client
        self.location = location
        self.path = str(location)
        self.meta = read_meta(client, location)
        self.manifest = Manifest.from_dict(json.loads(self.meta["manifest"]))
        self.version = int(self.meta.get("version", "0"))
        self.n_chunks = int(self.meta.get("n_chunks", "0"))
        self._chunks = collection(location, CHUNKS)

    def __enter__(self) -> MilvusSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """The client is the knowledge base's, shared by its views: nothing to release per view."""

    # --- chunks --------------------------------------------------------------------------------------------

    def chunk_ids(self, wanted: ChunkFilter | None = None) -> np.ndarray:
        """Sorted int64 ids of every chunk, or of those `wanted` lets through."""
        where = (expression(wanted) if wanted else "") or "id >= 0"
        ids = [row["id"] for row in scan(self.client, self._chunks, ["id"], where)]
        return np.sort(np.asarray(ids, dtype=np.int64))

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """Records of the given chunk ids (ids that do not exist are left out)."""
        out: dict[int, ChunkRecord] = {}
        for part in batches([int(i) for i in ids]):
            for row in self.client.query(self._chunks, filter=in_list("id", part), output_fields=_RECORD_FIELDS):
                out[int(row["id"])] = ChunkRecord(
                    int(row["id"]), row["text"], row["file"], row["doc_id"], row["title"], int(row["ordinal"]),
                    int(row["start"]), int(row["end"]), int(row["n_tokens"]), dict(row["metadata"] or {}))
        return out

    def texts_with_vectors(self) -> list[tuple[str, np.ndarray]]:
        """Distinct chunk texts with their vectors, in chunk-id order (at most COVERAGE_ROWS chunks read)."""
        rows: list[dict[str, Any]] = []
        for row in scan(self.client, self._chunks, ["id", "text", "text_sha", "dense"], "id >= 0"):
            rows.append(row)
            if len(rows) >= COVERAGE_ROWS:
                break
        seen: set[str] = set()
        out: list[tuple[str, np.ndarray]] = []
        for row in sorted(rows, key=lambda r: int(r["id"])):
            if row["text_sha"] not in seen:
                seen.add(row["text_sha"])
                out.append((row["text"], np.asarray(row["dense"], dtype=np.float32)))
        return out

    # --- searches (run by Milvus) --------------------------------------------------------------------------

    def dense_search(self, vectors: np.ndarray, n: int, allowed: np.ndarray | None) -> list[list[tuple[int, float]]]:
        """For each query vector, up to n (chunk id, cosine), best first."""
        if self.n_chunks == 0:
            return [[] for _ in vectors]
        found = self.client.search(self._chunks, data=[v.tolist() for v in vectors], anns_field="dense",
                                   limit=_limit(n, allowed), filter=_allowed(allowed), output_fields=["id"],
                                   search_params={"metric_type": "IP"})
        return [[(int(hit["id"]), float(hit["distance"])) for hit in hits] for hits in found]

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """The dense vectors of `ids`, in that order (all must exist)."""
        position = {int(cid): i for i, cid in enumerate(ids)}
        out = np.zeros((len(ids), self.manifest.embedder.dimension), dtype=np.float32)
        for part in batches(list(position)):
            for row in self.client.query(self._chunks, filter=in_list("id", part), output_fields=["id", "dense"]):
                out[position[int(row["id"])]] = row["dense"]
        return out

    def lexical_queries(self, queries: Sequence[str]) -> list[LexicalQuery]:
        """Each query's BM25 sparse vector and the best score it could reach (ingest.milvus.bm25)."""
        tokens = [tokenize(query) for query in queries]
        known = self._terms({t for query_tokens in tokens for t in query_tokens})
        unknown = float(self.meta.get("max_weight", "1.0"))
        return [lexical_query(query_tokens, known, self.n_chunks, unknown) for query_tokens in tokens]

    def _terms(self, wanted: set[str]) -> dict[str, Term]:
        out: dict[str, Term] = {}
        for part in batches(sorted(wanted)):
            for row in self.client.query(collection(self.location, TERMS), filter=in_list("term", part),
                                         output_fields=["term", "tid", "df", "maxsat"]):
                out[row["term"]] = Term(int(row["tid"]), int(row["df"]), float(row["maxsat"]))
        return out

    def lexical_search(self, query: LexicalQuery, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Up to n (chunk id, raw BM25 > 0), best first."""
        if not query.vector or self.n_chunks == 0:
            return []
        found = self.client.search(self._chunks, data=[query.vector], anns_field="sparse", limit=_limit(n, allowed),
                                   filter=_allowed(allowed), output_fields=["id"],
                                   search_params={"metric_type": "IP"})
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0] if hit["distance"] > 0]

    # --- files and totals ----------------------------------------------------------------------------------

    def files(self) -> list[FileEntry]:
        """Every ingested source file with its document and chunk counts, by path."""
        rows = scan(self.client, collection(self.location, FILES), _FILE_FIELDS, 'path != ""')
        entries = [FileEntry(r["path"], r["sha256"], int(r["size"]), float(r["ingested_at"]), int(r["documents"]),
                             int(r["chunks"])) for r in rows]
        return sorted(entries, key=lambda entry: entry.path)

    def file_paths(self) -> list[str]:
        return [entry.path for entry in self.files()]

    def stats(self) -> dict[str, Any]:
        files = self.files()
        return {"path": self.path, "version": self.version, "files": len(files),
                "documents": sum(f.documents for f in files), "chunks": self.n_chunks,
                "vectors": self.n_chunks, "embedder": self.manifest.embedder.to_dict(),
                "chunking": self.manifest.chunking.to_dict(), "backend": "milvus"}


# Milvus caps a search's limit (topk) at 16384.
_MAX_LIMIT = 16384


def _limit(n: int, allowed: np.ndarray | None) -> int:
    if allowed is not None:
        n = min(n, int(allowed.size))
    return max(1, min(n, _MAX_LIMIT))


def _allowed(allowed: np.ndarray | None) -> str:
    return "" if allowed is None else in_list("id", allowed.tolist())
