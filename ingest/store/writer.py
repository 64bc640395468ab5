"""The write side of a knowledge base: one transaction per change, then the index files rewritten aside."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import KnowledgeBaseError, KnowledgeBaseLocked
from ingest.lexical import LexicalIndex
from ingest.store.dense_index import DensePolicy, build_index, describe, needs_rebuild
from ingest.store.records import FileChange
from ingest.store.schema import (
    BATCH,
    DENSE,
    LEXICAL,
    LOCK,
    SCHEMA,
    atomic_write,
    connect,
    digest,
    faiss_module,
    marks,
    read_meta,
    transaction,
)
from ingest.store.snapshot import Snapshot

if TYPE_CHECKING:
    from ingest.store.knowledge_base import KnowledgeBase


@contextmanager
def write_lock(kb: Path) -> Iterator[None]:
    """An exclusive advisory lock; the kernel drops it when the process dies, even by kill -9."""
    handle = open(kb / LOCK, "a+")  # noqa: SIM115 - held for the duration of the context
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise KnowledgeBaseLocked(
                f"{kb} is being written by {holder}; wait for it to finish (one writer at a time)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


class Writer:
    """The write side of a knowledge base, valid while the lock is held."""

    def __init__(self, kb: KnowledgeBase, policy: DensePolicy | None = None) -> None:
        self.kb = kb
        self.policy = policy or DensePolicy()
        self.conn = connect(kb.path)
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def files(self) -> dict[str, tuple[str, int, int]]:
        """Known files: path -> (sha256, size, mtime_ns)."""
        rows = self.conn.execute("SELECT path, sha256, size, mtime_ns FROM files").fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content is unchanged (so the next run skips hashing it)."""
        with transaction(self.conn):
            self.conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))

    def known_texts(self, shas: Iterable[str]) -> set[str]:
        wanted = list(set(shas))
        known: set[str] = set()
        for begin in range(0, len(wanted), BATCH):
            part = wanted[begin : begin + BATCH]
            rows = self.conn.execute(f"SELECT sha256 FROM texts WHERE sha256 IN ({marks(len(part))})", part)
            known.update(r[0] for r in rows.fetchall())
        return known

    def add_texts(self, rows: Sequence[tuple[str, str, list[str], np.ndarray]]) -> None:
        """Store embedded texts (sha256, text, tokens, vector) in their own transaction. Until a commit
        references them they are invisible to readers; they spare a re-run after a crash from re-embedding."""
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR IGNORE INTO texts (sha256, text, tokens, vector) VALUES (?, ?, ?, ?)",
                [(sha, text, " ".join(tokens), np.asarray(vec, dtype=np.float32).tobytes())
                 for sha, text, tokens, vec in rows],
            )

    def commit(self, changes: Sequence[FileChange]) -> tuple[list[int], list[int]]:
        """Apply all file changes in one transaction and bump the version. Returns (added, removed) chunk ids.
        The index files are brought up to date afterwards by `sync_indexes`."""
        with transaction(self.conn):
            removed: list[int] = []
            added: list[int] = []
            for change in changes:
                removed += self._remove_file(change.path)
                if change.documents is not None:
                    added += self._insert_file(change)
            self.conn.execute("DELETE FROM texts WHERE id NOT IN (SELECT text_id FROM chunks)")
            version = int(read_meta(self.conn).get("version", "0")) + 1
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(version),))
        return added, removed

    def _remove_file(self, path: str) -> list[int]:
        ids = [r[0] for r in self.conn.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document WHERE d.file = ?", (path,))]
        self.conn.execute("DELETE FROM files WHERE path = ?", (path,))  # cascades to documents and chunks
        return ids

    def _insert_file(self, change: FileChange) -> list[int]:
        self.conn.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                          (change.path, change.sha256, change.size, change.mtime_ns, time.time()))
        added: list[int] = []
        for doc in change.documents or []:
            cursor = self.conn.execute(
                "INSERT INTO documents (file, doc_id, title, metadata, n_chars) VALUES (?, ?, ?, ?, ?)",
                (change.path, doc.doc_id, doc.title, json.dumps(doc.metadata, ensure_ascii=False), doc.n_chars),
            )
            document = cursor.lastrowid
            for sha, ordinal, start, end, n_tokens, metadata in doc.chunks:
                cursor = self.conn.execute(
                    "INSERT INTO chunks (document, ordinal, text_id, start, end, n_tokens, metadata) "
                    "SELECT ?, ?, id, ?, ?, ?, ? FROM texts WHERE sha256 = ?",
                    (document, ordinal, start, end, n_tokens, json.dumps(metadata, ensure_ascii=False), sha),
                )
                if cursor.rowcount != 1:
                    raise KnowledgeBaseError(f"chunk text {sha[:12]} of {change.path} was not embedded first")
                added.append(int(cursor.lastrowid or 0))
        return added

    def sync_indexes(self, added: Sequence[int] = (), removed: Sequence[int] = ()) -> None:
        """Rewrite dense.faiss and the BM25 file for the current version (aside, then renamed), and record
        their digests. Incremental for the dense index when the file on disk is the previous version's, unless
        the change moved it across the approximate-search threshold or far from the size its lists were trained
        for (`dense_index.needs_rebuild`): then it is rebuilt from the docstore's vectors."""
        with Snapshot(self.kb.path, self.kb.manifest) as snap:
            dense = self._updated_dense(snap, added, removed)
            dense_bytes = faiss_module().serialize_index(dense).tobytes()
            lexical_index = snap.lexical() if snap.index_is_current("lexical") else None
            if lexical_index is None:
                ids, token_lists = snap.tokens()
                lexical_index = LexicalIndex.build(ids, token_lists)
            version = snap.version
        self._publish(DENSE, "dense", dense_bytes, version, kind=json.dumps(describe(dense)))
        self._publish(LEXICAL, "lexical", lexical_index.to_bytes(), version)

    def _updated_dense(self, snap: Snapshot, added: Sequence[int], removed: Sequence[int]) -> Any:
        index = self._previous_dense(snap) if added or removed else None
        if index is not None:
            if removed:
                index.remove_ids(np.asarray(removed, dtype=np.int64))
            if added:
                index.add_with_ids(self._vectors_of(added), np.asarray(added, dtype=np.int64))
            if not needs_rebuild(index, self.policy):
                return index
        ids, vectors = snap.vectors()
        return build_index(self.kb.manifest.embedder.dimension, ids, vectors, self.policy)

    def _previous_dense(self, snap: Snapshot) -> Any:
        """The previous version's dense index from disk, if the file is intact and of that version."""
        path = self.kb.path / DENSE
        if snap.meta.get("dense_version") != str(snap.version - 1) or not path.is_file():
            return None
        payload = path.read_bytes()
        if digest(payload) != snap.meta.get("dense_digest"):
            return None
        return faiss_module().deserialize_index(np.frombuffer(payload, dtype=np.uint8))

    def _vectors_of(self, chunk_ids: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(chunk_ids), self.kb.manifest.embedder.dimension), dtype=np.float32)
        position = {cid: i for i, cid in enumerate(chunk_ids)}
        for begin in range(0, len(chunk_ids), BATCH):
            part = list(chunk_ids[begin : begin + BATCH])
            rows = self.conn.execute(
                "SELECT c.id, t.vector FROM chunks c JOIN texts t ON t.id = c.text_id "
                f"WHERE c.id IN ({marks(len(part))})", part).fetchall()
            for cid, blob in rows:
                out[position[cid]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def _publish(self, name: str, key: str, payload: bytes, version: int, kind: str | None = None) -> None:
        """The file, then its version and digest (and `kind`: what `stats` says about it, without reading it)."""
        atomic_write(self.kb.path / name, payload)
        rows = [(f"{key}_version", str(version)), (f"{key}_digest", digest(payload))]
        with transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                  rows + ([(f"{key}_kind", kind)] if kind else []))

    def indexes_current(self) -> bool:
        meta = read_meta(self.conn)
        version = meta.get("version", "0")
        return meta.get("dense_version") == version and meta.get("lexical_version") == version
