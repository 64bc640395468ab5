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

The typed API: `KnowledgeBase` (open/create, `snapshot()`, `writer()`), `Manifest` with `EmbedderSpec` and
`ChunkingSpec`, and `Snapshot`'s read methods (`chunk_ids(ChunkFilter)`, `chunks`, `vectors`, `files`,
`file_paths`, `texts_with_vectors`, `stats`). All SQL against the store's tables lives in this package
(schema, queries, snapshot, writer); nothing outside it may read the tables directly.
"""

from ingest.store.knowledge_base import KnowledgeBase
from ingest.store.manifest import ChunkingSpec, EmbedderSpec, Manifest
from ingest.store.records import ChunkFilter, ChunkRecord, FileChange, FileEntry, NewDocument
from ingest.store.schema import (
    DENSE,
    DOCSTORE,
    LEXICAL,
    LOCK,
    MANIFEST,
    SCHEMA_VERSION,
    build_dense,
    is_knowledge_base,
)
from ingest.store.snapshot import Snapshot
from ingest.store.writer import Writer

__all__ = [
    "DENSE", "DOCSTORE", "LEXICAL", "LOCK", "MANIFEST", "SCHEMA_VERSION", "ChunkFilter", "ChunkRecord",
    "ChunkingSpec", "EmbedderSpec", "FileChange", "FileEntry", "KnowledgeBase", "Manifest", "NewDocument",
    "Snapshot", "Writer", "build_dense", "is_knowledge_base",
]
