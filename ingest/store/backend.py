"""The store backend contract: what ingest, retrieval, the server and `eval retrieval` call on a knowledge base.

Two implementations: the local folder (`ingest.store.KnowledgeBase`: SQLite + FAISS + BM25, the default) and
Milvus (`ingest.milvus.MilvusKnowledgeBase`, for a `milvus://HOST:PORT/NAME` location). Searching is not part of
the contract: the local store's indexes are searched in-process (llmapp.retrieve.dense/lexical) and Milvus's
server-side (llmapp.retrieve.milvus); `llmapp.retrieve.build_retriever` picks the retrievers for the backend
and fuses both the same way.

    backend = open_store("~/.local/share/llmapp/handbook")      # or "milvus://127.0.0.1:19530/handbook"
    with backend.writer() as writer: ...                          # ingest.pipeline drives it
    with backend.snapshot() as snap: snap.files(); snap.chunks([1, 2])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ingest.store.manifest import Manifest
from ingest.store.records import ChunkFilter, ChunkRecord, FileChange, FileEntry


class StoreSnapshot(Protocol):
    """A read view at one version."""

    manifest: Manifest
    version: int

    @property
    def path(self) -> Path | str: ...

    def chunk_ids(self, wanted: ChunkFilter | None = None) -> np.ndarray: ...
    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRecord]: ...
    def texts_with_vectors(self) -> list[tuple[str, np.ndarray]]: ...
    def files(self) -> list[FileEntry]: ...
    def file_paths(self) -> list[str]: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...


class StoreWriter(Protocol):
    """The incremental-ingest contract: known files with hashes, texts embedded once, files replaced whole."""

    def files(self) -> dict[str, tuple[str, int, int]]: ...
    def touch(self, path: str, size: int, mtime_ns: int) -> None: ...
    def known_texts(self, shas: Iterable[str]) -> set[str]: ...
    def add_texts(self, rows: Sequence[tuple[str, str, list[str], np.ndarray]]) -> None: ...
    def commit(self, changes: Sequence[FileChange]) -> tuple[list[int], list[int]]: ...
    def sync_indexes(self, added: Sequence[int] = (), removed: Sequence[int] = ()) -> None: ...
    def indexes_current(self) -> bool: ...


class StoreBackend(Protocol):
    """A knowledge base: its manifest (embedder spec, chunking), read views and one writer at a time."""

    manifest: Manifest

    @property
    def path(self) -> Path | str: ...

    def snapshot(self) -> Any: ...  # a StoreSnapshot (Any: each backend's retrievers use their own extras)
    # a StoreWriter; `policy` (a local DensePolicy) says when the local dense index turns approximate
    def writer(self, policy: Any = None) -> AbstractContextManager[Any]: ...
    def version(self) -> int: ...


def is_remote(location: Path | str) -> bool:
    """Whether `location` names a Milvus knowledge base rather than a folder."""
    from ingest.milvus.uri import is_milvus_uri

    return is_milvus_uri(location)


def store_exists(location: Path | str) -> bool:
    if is_remote(location):
        from ingest.milvus import MilvusKnowledgeBase

        return MilvusKnowledgeBase.exists(str(location))
    from ingest.store.schema import is_knowledge_base

    return is_knowledge_base(Path(location))


def open_store(location: Path | str) -> StoreBackend:
    if is_remote(location):
        from ingest.milvus import MilvusKnowledgeBase

        return MilvusKnowledgeBase.open(str(location))
    from ingest.store.knowledge_base import KnowledgeBase

    return KnowledgeBase.open(location)


def create_store(location: Path | str, manifest: Manifest) -> StoreBackend:
    if is_remote(location):
        from ingest.milvus import MilvusKnowledgeBase

        return MilvusKnowledgeBase.create(str(location), manifest)
    from ingest.store.knowledge_base import KnowledgeBase

    return KnowledgeBase.create(location, manifest)
