"""The knowledge base on disk: one folder, four parts that always agree.

    <kb>/manifest.json       schema version, embedder, chunking, lexical tokenizer (written once, atomically)
    <kb>/docstore.sqlite     files, documents, chunks, unique chunk texts with their vectors and BM25 tokens
    <kb>/dense.faiss         inner-product index over unit vectors, ids = chunk ids
    <kb>/lexical/bm25.npz    eager BM25 weights, rows = chunk ids

SQLite is the source of truth. Every change is one SQLite transaction that bumps `version`; the two index files
are then rewritten aside and renamed into place, and their digests recorded in SQLite for that version. A reader
takes a SQLite snapshot and uses an index file only if its digest is the one recorded for the snapshot's version;
otherwise (a writer is between its commit and its rename, or was killed there) it rebuilds that index in memory
from the snapshot's vectors and tokens. So a kill -9 at any moment leaves a consistent, openable knowledge base,
and the next writer repairs the files. One writer at a time: an exclusive lock on <kb>/.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import KnowledgeBaseError, KnowledgeBaseLocked
from ingest.lexical import TOKENIZER_VERSION, LexicalIndex

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docstore.sqlite"
DENSE = "dense.faiss"
LEXICAL = "lexical/bm25.npz"
LOCK = ".lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    ingested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    doc_id TEXT NOT NULL, title TEXT NOT NULL, metadata TEXT NOT NULL, n_chars INTEGER NOT NULL,
    UNIQUE (file, doc_id));
CREATE TABLE IF NOT EXISTS texts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT NOT NULL UNIQUE, text TEXT NOT NULL,
    tokens TEXT NOT NULL, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, document INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text_id INTEGER NOT NULL REFERENCES texts(id), start INTEGER NOT NULL,
    end INTEGER NOT NULL, n_tokens INTEGER NOT NULL, metadata TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document);
CREATE INDEX IF NOT EXISTS chunks_text ON chunks(text_id);
CREATE INDEX IF NOT EXISTS documents_file ON documents(file);
"""


@dataclass
class Manifest:
    """What a knowledge base was built with. Opening it with another embedder is an error."""

    embedder: dict[str, Any]
    chunking: dict[str, int]
    lexical: dict[str, str] = field(default_factory=lambda: {"tokenizer": TOKENIZER_VERSION})
    schema_version: int = SCHEMA_VERSION
    created_at: float = field(default_factory=time.time)

    @classmethod
    def read(cls, kb: Path) -> Manifest:
        path = kb / MANIFEST
        if not path.is_file():
            raise KnowledgeBaseError(f"{kb} is not a knowledge base (no {MANIFEST}); create it with `llmapp ingest`")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise KnowledgeBaseError(f"{path} is damaged or from another tool: {exc}") from exc
        if manifest.schema_version != SCHEMA_VERSION:
            raise KnowledgeBaseError(
                f"{kb} has schema version {manifest.schema_version}; this llmapp reads version {SCHEMA_VERSION}"
            )
        return manifest

    def write(self, kb: Path) -> None:
        _atomic_write(kb / MANIFEST, json.dumps(asdict(self), indent=2, ensure_ascii=False).encode())

    def check_embedder(self, spec: dict[str, Any], kb: Path) -> None:
        mine = (self.embedder.get("name"), self.embedder.get("dimension"))
        theirs = (spec.get("name"), spec.get("dimension"))
        if mine != theirs:
            raise KnowledgeBaseError(
                f"{kb} was built with embedder {mine[0]!r} ({mine[1]}-d), not {theirs[0]!r} ({theirs[1]}-d): "
                "vectors of different models cannot be mixed. Use the same embedder or a new knowledge base."
            )


@dataclass
class ChunkRecord:
    """A stored chunk with its document's provenance."""

    chunk_id: int
    text: str
    source: str
    doc_id: str
    title: str
    ordinal: int
    start: int
    end: int
    n_tokens: int
    metadata: dict[str, Any]


@dataclass
class NewDocument:
    """A document to store, with its chunks as (text sha256, ordinal, start, end, n_tokens, metadata)."""

    doc_id: str
    title: str
    metadata: dict[str, Any]
    n_chars: int
    chunks: list[tuple[str, int, int, int, int, dict[str, Any]]]


@dataclass
class FileChange:
    """A file to (re)place in the knowledge base with all its documents; `documents=None` removes the file."""

    path: str
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    documents: list[NewDocument] | None = None


def _atomic_write(path: Path, payload: bytes) -> None:
    """Write aside, fsync, rename: readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=20).hexdigest()


def _connect(kb: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(kb / DOCSTORE, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def with_current_embedder(manifest: Manifest, meta: dict[str, str]) -> Manifest:
    """The manifest with the embedder the docstore's vectors were made with. After `kb tune` switched the
    embedder (ingest/reembed.py) SQLite's meta row is the truth; manifest.json follows it a moment later."""
    current = meta.get("embedder")
    return manifest if current is None else replace(manifest, embedder=json.loads(current))


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise KnowledgeBaseError("the dense index needs faiss: pip install faiss-cpu") from exc
    return faiss


def build_dense(dimension: int, ids: np.ndarray, vectors: np.ndarray) -> Any:
    faiss = _faiss()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def is_knowledge_base(path: Path) -> bool:
    return (path / MANIFEST).is_file()


class Snapshot:
    """A consistent read-only view of a knowledge base at one version.

    Holds a SQLite read transaction open, so chunk lookups agree with the indexes whatever a writer does
    meanwhile. Close it (or use it as a context manager) when done; `KnowledgeBase.snapshot()` gives a new one.
    """

    def __init__(self, kb: Path, manifest: Manifest) -> None:
        self.path = kb
        self.manifest = manifest
        self._conn = _connect(kb)
        self._lock = threading.Lock()
        self._conn.execute("BEGIN")
        meta = _meta(self._conn)  # the first read pins the snapshot
        self.version = int(meta.get("version", "0"))
        self.manifest = with_current_embedder(manifest, meta)
        self._meta = meta
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

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query inside this snapshot (for filters and stats)."""
        with self._lock:
            return self._conn.execute(query, params).fetchall()

    def dense(self) -> Any:
        """The FAISS index of this version (ids = chunk ids)."""
        if self._dense is None:
            payload = self._verified_file(DENSE, "dense")
            if payload is not None:
                self._dense = _faiss().deserialize_index(np.frombuffer(payload, dtype=np.uint8))
            else:
                ids, vectors = self.vectors()
                self._dense = build_dense(int(self.manifest.embedder["dimension"]), ids, vectors)
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

    def _verified_file(self, name: str, key: str) -> bytes | None:
        """The index file's bytes if they are the ones recorded for this version, else None."""
        if self._meta.get(f"{key}_version") != str(self.version):
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
        if _digest(payload) != self._meta.get(f"{key}_digest"):
            log.warning("%s: %s changed while being read; using the docstore's copy", self.path, name)
            return None
        return payload

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.sql("SELECT c.id, t.vector FROM chunks c JOIN texts t ON t.id = c.text_id ORDER BY c.id")
        dim = int(self.manifest.embedder["dimension"])
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, vectors

    def tokens(self) -> tuple[np.ndarray, list[list[str]]]:
        rows = self.sql("SELECT c.id, t.tokens FROM chunks c JOIN texts t ON t.id = c.text_id ORDER BY c.id")
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1].split(" ") if r[1] else [] for r in rows]

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        """Records of the given chunk ids (ids that do not exist are left out)."""
        wanted = [int(i) for i in ids]
        out: dict[int, ChunkRecord] = {}
        for begin in range(0, len(wanted), 500):
            part = wanted[begin : begin + 500]
            marks = ",".join("?" * len(part))
            rows = self.sql(
                "SELECT c.id, t.text, d.file, d.doc_id, d.title, c.ordinal, c.start, c.end, c.n_tokens, "
                "d.metadata, c.metadata FROM chunks c JOIN texts t ON t.id = c.text_id "
                f"JOIN documents d ON d.id = c.document WHERE c.id IN ({marks})",
                part,
            )
            for row in rows:
                metadata = {**json.loads(row[9]), **json.loads(row[10])}
                out[row[0]] = ChunkRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                                          metadata)
        return out

    def stats(self) -> dict[str, Any]:
        files, documents, chunks, texts = self.sql(
            "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM documents), "
            "(SELECT count(*) FROM chunks), (SELECT count(*) FROM texts)"
        )[0]
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {"path": str(self.path), "version": self.version, "files": files, "documents": documents,
                "chunks": chunks, "unique_texts": texts, "vectors": int(self.dense().ntotal),
                "embedder": self.manifest.embedder, "chunking": self.manifest.chunking, "bytes": size}


class KnowledgeBase:
    """A knowledge base folder. Read through `snapshot()`; write through `writer()` (one at a time)."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: Path | str) -> KnowledgeBase:
        kb = Path(path)
        manifest = Manifest.read(kb)
        if not (kb / DOCSTORE).is_file():
            raise KnowledgeBaseError(f"{kb} has a manifest but no {DOCSTORE}: it is not a complete knowledge base")
        with contextlib.closing(_connect(kb)) as conn:
            return cls(kb, with_current_embedder(manifest, _meta(conn)))

    @classmethod
    def create(cls, path: Path | str, manifest: Manifest) -> KnowledgeBase:
        """Create an empty knowledge base, or open the existing one if its embedder matches."""
        kb = Path(path)
        if is_knowledge_base(kb):
            existing = cls.open(kb)
            existing.manifest.check_embedder(manifest.embedder, kb)
            return existing
        kb.mkdir(parents=True, exist_ok=True)
        with _connect(kb) as conn:
            conn.executescript(_SCHEMA)
        manifest.write(kb)  # last: a folder without a manifest is not a knowledge base yet
        return cls(kb, manifest)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.path, self.manifest)

    def version(self) -> int:
        with _connect(self.path) as conn:
            return int(_meta(conn).get("version", "0"))

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        with _write_lock(self.path):
            writer = Writer(self)
            try:
                yield writer
            finally:
                writer.close()


@contextmanager
def _write_lock(kb: Path) -> Iterator[None]:
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

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.conn = _connect(kb.path)
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def files(self) -> dict[str, tuple[str, int, int]]:
        """Known files: path -> (sha256, size, mtime_ns)."""
        rows = self.conn.execute("SELECT path, sha256, size, mtime_ns FROM files").fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content is unchanged (so the next run skips hashing it)."""
        with _transaction(self.conn):
            self.conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))

    def known_texts(self, shas: Iterable[str]) -> set[str]:
        wanted = list(set(shas))
        known: set[str] = set()
        for begin in range(0, len(wanted), 500):
            part = wanted[begin : begin + 500]
            rows = self.conn.execute(
                f"SELECT sha256 FROM texts WHERE sha256 IN ({','.join('?' * len(part))})", part
            ).fetchall()
            known.update(r[0] for r in rows)
        return known

    def add_texts(self, rows: Sequence[tuple[str, str, list[str], np.ndarray]]) -> None:
        """Store embedded texts (sha256, text, tokens, vector) in their own transaction. Until a commit
        references them they are invisible to readers; they spare a re-run after a crash from re-embedding."""
        with _transaction(self.conn):
            self.conn.executemany(
                "INSERT OR IGNORE INTO texts (sha256, text, tokens, vector) VALUES (?, ?, ?, ?)",
                [(sha, text, " ".join(tokens), np.asarray(vec, dtype=np.float32).tobytes())
                 for sha, text, tokens, vec in rows],
            )

    def commit(self, changes: Sequence[FileChange]) -> tuple[list[int], list[int]]:
        """Apply all file changes in one transaction and bump the version. Returns (added, removed) chunk ids.
        The index files are brought up to date afterwards by `sync_indexes`."""
        with _transaction(self.conn):
            removed: list[int] = []
            added: list[int] = []
            for change in changes:
                removed += self._remove_file(change.path)
                if change.documents is not None:
                    added += self._insert_file(change)
            self.conn.execute("DELETE FROM texts WHERE id NOT IN (SELECT text_id FROM chunks)")
            version = int(_meta(self.conn).get("version", "0")) + 1
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
        their digests. Incremental for the dense index when the file on disk is the previous version's."""
        with Snapshot(self.kb.path, self.kb.manifest) as snap:
            dense = self._updated_dense(snap, added, removed)
            dense_bytes = _faiss().serialize_index(dense).tobytes()
            lexical_index = snap.lexical() if snap._meta.get("lexical_version") == str(snap.version) else None
            if lexical_index is None:
                ids, token_lists = snap.tokens()
                lexical_index = LexicalIndex.build(ids, token_lists)
            version = snap.version
        self._publish(DENSE, "dense", dense_bytes, version)
        self._publish(LEXICAL, "lexical", lexical_index.to_bytes(), version)

    def _updated_dense(self, snap: Snapshot, added: Sequence[int], removed: Sequence[int]) -> Any:
        meta = snap._meta
        previous = str(snap.version - 1)
        if added or removed:
            path = self.kb.path / DENSE
            if meta.get("dense_version") == previous and path.is_file():
                payload = path.read_bytes()
                if _digest(payload) == meta.get("dense_digest"):
                    index = _faiss().deserialize_index(np.frombuffer(payload, dtype=np.uint8))
                    if removed:
                        index.remove_ids(np.asarray(removed, dtype=np.int64))
                    if added:
                        vectors = self._vectors_of(added)
                        index.add_with_ids(vectors, np.asarray(added, dtype=np.int64))
                    return index
        ids, vectors = snap.vectors()
        return build_dense(int(self.kb.manifest.embedder["dimension"]), ids, vectors)

    def _vectors_of(self, chunk_ids: Sequence[int]) -> np.ndarray:
        dim = int(self.kb.manifest.embedder["dimension"])
        out = np.zeros((len(chunk_ids), dim), dtype=np.float32)
        position = {cid: i for i, cid in enumerate(chunk_ids)}
        for begin in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[begin : begin + 500])
            rows = self.conn.execute(
                "SELECT c.id, t.vector FROM chunks c JOIN texts t ON t.id = c.text_id "
                f"WHERE c.id IN ({','.join('?' * len(part))})", part).fetchall()
            for cid, blob in rows:
                out[position[cid]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def _publish(self, name: str, key: str, payload: bytes, version: int) -> None:
        _atomic_write(self.kb.path / name, payload)
        with _transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                  [(f"{key}_version", str(version)), (f"{key}_digest", _digest(payload))])

    def indexes_current(self) -> bool:
        meta = _meta(self.conn)
        version = meta.get("version", "0")
        return meta.get("dense_version") == version and meta.get("lexical_version") == version
