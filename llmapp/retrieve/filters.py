"""Metadata filters, resolved to the set of chunk ids a search may return, before any ranking.

`source` is a glob over the file path (`*.pdf`, `docs/**`), `doc_id` one document id or several, and
`metadata` `key=value` pairs matched against the chunk's metadata, then its document's (compared as text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.store import ChunkFilter, Snapshot
from llmapp.errors import ConfigError


@dataclass(frozen=True)
class Filters:
    """What a hit must match. An empty `Filters()` matches everything."""

    source: str | None = None
    doc_id: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.source or self.doc_id or self.metadata)

    @classmethod
    def parse(cls, raw: Filters | Mapping[str, Any] | None) -> Filters:
        """From a `Filters`, None, or a dict {"source": glob, "doc_id": id or [ids], "metadata": {k: v}}."""
        if raw is None or isinstance(raw, Filters):
            return raw or cls()
        unknown = set(raw) - {"source", "doc_id", "metadata"}
        if unknown:
            raise ConfigError(f"unknown filter(s) {sorted(unknown)}: use source, doc_id or metadata")
        doc_ids = raw.get("doc_id") or ()
        if isinstance(doc_ids, str):
            doc_ids = (doc_ids,)
        metadata = {str(k): str(v) for k, v in (raw.get("metadata") or {}).items()}
        return cls(raw.get("source"), tuple(str(d) for d in doc_ids), metadata)

    @classmethod
    def from_flags(cls, source: str | None, doc_ids: Sequence[str], pairs: Sequence[str]) -> Filters:
        """From CLI flags: `--source GLOB`, `--doc-id ID` (repeatable), `--where key=value` (repeatable)."""
        metadata: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--where {pair!r}: expected key=value, e.g. --where page=3")
            metadata[key.strip()] = value.strip()
        return cls(source, tuple(doc_ids), metadata)


def allowed_chunk_ids(snapshot: Snapshot, filters: Filters) -> np.ndarray:
    """Sorted int64 ids of the chunks that match `filters` in this snapshot (the store runs the query)."""
    return snapshot.chunk_ids(ChunkFilter(filters.source, filters.doc_id, filters.metadata))
