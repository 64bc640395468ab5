"""The typed rows the store reads and writes: what callers get instead of SQL tuples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class FileEntry:
    """One ingested source file, with how many documents and chunks it gave."""

    path: str
    sha256: str
    size: int
    ingested_at: float
    documents: int
    chunks: int


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a search may return. Empty matches everything.

    `source` is a glob over the stored file path (a glob not starting with "/" or "*" matches at any depth),
    `doc_ids` one or more document ids, `metadata` key=value pairs matched against the chunk's metadata, then
    its document's (compared as text).
    """

    source: str | None = None
    doc_ids: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


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
