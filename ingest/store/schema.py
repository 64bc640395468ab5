"""The knowledge base's files and SQLite schema, and the low-level helpers every part of the store shares.

Only `ingest.store` runs SQL against these tables: other packages read through `Snapshot`'s typed methods,
so the schema can change without breaking retrieval or the server.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import KnowledgeBaseError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docstore.sqlite"
DENSE = "dense.faiss"
LEXICAL = "lexical/bm25.npz"
LOCK = ".lock"
BATCH = 500  # ids per `IN (...)` query, well under SQLite's parameter limit

SCHEMA = """
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


def atomic_write(path: Path, payload: bytes) -> None:
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


def digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=20).hexdigest()


def connect(kb: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(kb / DOCSTORE, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def marks(count: int) -> str:
    """`?,?,?` for an `IN (...)` clause of `count` parameters."""
    return ",".join("?" * count)


def faiss_module() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise KnowledgeBaseError("the dense index needs faiss: pip install faiss-cpu") from exc
    return faiss


def build_dense(dimension: int, ids: np.ndarray, vectors: np.ndarray) -> Any:
    faiss = faiss_module()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def is_knowledge_base(path: Path) -> bool:
    return (path / MANIFEST).is_file()
