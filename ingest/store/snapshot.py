"""A consistent read-only view of a knowledge base at one version, with typed read methods."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.lexical import LexicalIndex
from ingest.store import queries
from ingest.store.manifest import Manifest, with_current_embedder
from ingest.store.records import ChunkFilter, ChunkRecord, FileEntry
from ingest.store.schema import BATCH, DENSE, LEXICAL, build_dense, connect, digest, faiss_module, marks, read_meta

log = logging.getLogger(__name__)


class Snapshot:
    """A consistent read-only view of a knowledge base at one version.

    Holds a SQLite read transaction open, so chunk lookups agree with the indexes whatever a writer does
    meanwhile. Close it (or use it as a context manager) when done; `KnowledgeBase.snapshot()` gives a new one.
    """

    def __init__(self, kb: Path, manifest: Manifest) -> None:
        self.path = kb
        self.manifest = manifest
        self._conn = connect(kb)
        self._lock = threading.Lock()
        self._conn.execute("BEGIN")
        meta = read_meta(self._conn)  # the first read pins the snapshot
        self.version = int(meta.get("version", "0"))
        self.meta = meta
        self.manifest = with_current_embedder(manifest, meta)  # `kb tune` may have switched the embedder
        self._dense: Any = None
        self._lexical: LexicalIndex | None = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("COMMIT")
            self._conn.close()

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(query, params).fetchall()

    # --- indexes -------------------------------------------------------------------------------------------

    def dense(self) -> Any:
        """The FAISS index of this version (ids = chunk ids)."""
        if self._dense is None:
            payload = self._verified_file(DENSE, "dense")
            if payload is not None:
                self._dense = faiss_module().deserialize_index(np.frombuffer(payload, dtype=np.uint8))
            else:  # exact even past the approximate-search threshold: correct now, and no k-means on a read
                ids, vectors = self.vectors()
                self._dense = build_dense(self.manifest.embedder.dimension, ids, vectors)
        return self._dense

    def lexical(self) -> LexicalIndex:
        """The BM25 index of this version (rows = chunk ids)."""
        if self._lexical is None:
            payload = self._verified_file(LEXICAL, "lexical")
            if payload is not None:
                self._lexical = LexicalIndex.from_bytes(payload)
            else:
                ids, token_lists = self.tokens()
                self._lexical = LexicalIndex.build(ids, token_lists)
        return self._lexical

    def index_is_current(self, key: str) -> bool:
        """Whether the `dense` or `lexical` file on disk was written for this version."""
        return self.meta.get(f"{key}_version") == str(self.version)

    def _verified_file(self, name: str, key: str) -> bytes | None:
        """The index file's bytes if they are the ones recorded for this version, else None."""
        if not self.index_is_current(key):
            if self.version:
                # normal while an ingest is between its commit and its index write; after a crash, the next
                # `llmapp ingest` repairs the file on disk
                log.info("%s: %s index is behind the docstore (an ingest is writing it, or one was interrupted); "
                         "rebuilding it in memory", self.path, key)
            return None
        try:
            payload = (self.path / name).read_bytes()
        except FileNotFoundError:
            return None
        if digest(payload) != self.meta.get(f"{key}_digest"):
            log.warning("%s: %s changed while being read; using the docstore's copy", self.path, name)
            return None
        return payload

    # --- chunks --------------------------------------------------------------------------------------------

    def chunk_ids(self, wanted: ChunkFilter | None = None) -> np.ndarray:
        """Sorted int64 ids of every chunk, or of those `wanted` lets through."""
        query, params = queries.matching_ids(wanted) if wanted else (queries.ALL_IDS, [])
        rows = self._rows(query, params)
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, their vectors), by chunk id."""
        rows = self._rows(queries.VECTORS)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), self.manifest.embedder.dimension)

    def tokens(self) -> tuple[np.ndarray, list[list[str]]]:
        """(chunk ids, their BM25 tokens), by chunk id."""
        rows = self._rows(queries.TOKENS)
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1].split(" ") if r[1] else [] for r in rows]

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """Records of the given chunk ids (ids that do not exist are left out)."""
        wanted = [int(i) for i in ids]
        out: dict[int, ChunkRecord] = {}
        for begin in range(0, len(wanted), BATCH):
            part = wanted[begin : begin + BATCH]
            for row in self._rows(queries.CHUNKS.format(marks=marks(len(part))), part):
                chunk_id, text, source, doc_id, title, ordinal, start, end, n_tokens = row[:9]
                metadata = {**json.loads(row[9]), **json.loads(row[10])}
                out[chunk_id] = ChunkRecord(chunk_id, text, source, doc_id, title, ordinal, start, end, n_tokens,
                                            metadata)
        return out

    def texts_with_vectors(self) -> list[tuple[str, np.ndarray]]:
        """Each distinct chunk text in use, with its vector (identical chunks are stored once), in an order
        that depends on the texts alone (their sha256), so a sample drawn from it does too."""
        return [(text, np.frombuffer(vector, dtype=np.float32)) for _, text, vector in self._rows(queries.USED_TEXTS)]

    # --- files and totals ----------------------------------------------------------------------------------

    def files(self) -> list[FileEntry]:
        """Every ingested source file with its document and chunk counts, by path."""
        return [FileEntry(*row) for row in self._rows(queries.FILES)]

    def file_paths(self) -> list[str]:
        """The stored source paths, sorted."""
        return [row[0] for row in self._rows(queries.FILE_PATHS)]

    def _dense_kind(self, current: bool) -> dict[str, Any]:
        """What the writer recorded about this version's dense index (exact or IVF), without reading it; a
        reader of an out-of-date file searches an exact index it builds in memory."""
        recorded = self.meta.get("dense_kind")
        return json.loads(recorded) if current and recorded else {"kind": "exact"}

    def stats(self) -> dict[str, Any]:
        """Counts from SQL and sizes from the file system: no index is read, so a knowledge base of any size (or
        with a damaged index file) answers at once. `vectors` counts the chunks with a vector of the manifest's
        dimension (the dense index holds exactly those); `indexes_current` says whether the index files on
        disk are this version's (if not, a reader rebuilds them in memory and the next ingest rewrites them)."""
        vector_bytes = 4 * self.manifest.embedder.dimension
        files, documents, chunks, texts, vectors = self._rows(queries.COUNTS, [vector_bytes])[0]
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        current = self.index_is_current("dense") and self.index_is_current("lexical")
        return {"path": str(self.path), "version": self.version, "files": files, "documents": documents,
                "chunks": chunks, "unique_texts": texts, "vectors": vectors, "indexes_current": current,
                "dense_index": self._dense_kind(current),
                "embedder": self.manifest.embedder.to_dict(), "chunking": self.manifest.chunking.to_dict(),
                "bytes": size}
