"""Assertions shared by the ingest tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.store import KnowledgeBase


def index_ids(kb: Path) -> tuple[list[int], list[int], list[int]]:
    """Chunk ids as the docstore, the dense index and the lexical index see them."""
    with KnowledgeBase.open(kb).snapshot() as snap:
        docstore = sorted(int(i) for i in snap.chunk_ids())
        dense = snap.dense()
        dense_ids = sorted(int(i) for i in (np.array([dense.id_map.at(j) for j in range(dense.ntotal)])))
        lexical_ids = sorted(int(i) for i in snap.lexical().chunk_ids)
    return docstore, dense_ids, lexical_ids


def assert_consistent(kb: Path) -> int:
    docstore, dense, lexical = index_ids(kb)
    assert docstore == dense == lexical
    return len(docstore)


def content(kb: Path) -> list[tuple[str, str, int, str]]:
    """What a knowledge base holds, independent of ids and timings."""
    with KnowledgeBase.open(kb).snapshot() as snap:
        rows = [(r.source, r.doc_id, r.ordinal, r.text) for r in snap.chunks(snap.chunk_ids()).values()]
    return sorted(rows)
