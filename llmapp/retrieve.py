"""Retrieval over a knowledge base: `Retriever.search(query, k) -> list[Hit]`, higher scores are better.

`Retriever.search` does the shared work (validation, ranks, `min_score`, provenance from the docstore);
an implementation only returns (chunk id, score) pairs from `_search`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from llmapp.errors import ConfigError
from llmapp.hits import Hit
from llmapp.settings import Settings


class Retriever(ABC):
    """Base class: implement `_search`; call `search`."""

    def __init__(self, snapshot: Any, min_score: float | None = None) -> None:
        self.snapshot = snapshot  # ingest.store.Snapshot
        self.min_score = min_score

    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None) -> list[Hit]:
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        if not query.strip():
            raise ConfigError("the query is empty")
        scored = self._search(query, k, filters)
        if self.min_score is not None:
            scored = [(cid, score) for cid, score in scored if score >= self.min_score]
        records = self.snapshot.chunks(cid for cid, _ in scored)
        hits = []
        for chunk_id, score in scored:
            record = records.get(chunk_id)
            if record is None:
                continue
            hits.append(Hit(rank=len(hits) + 1, score=float(score), text=record.text, source=record.source,
                            doc_id=record.doc_id, chunk_id=chunk_id, ordinal=record.ordinal,
                            span=(record.start, record.end), metadata=record.metadata))
        return hits

    @abstractmethod
    def _search(self, query: str, k: int, filters: dict[str, Any] | None) -> list[tuple[int, float]]:
        """The k best (chunk id, score) pairs, best first."""

    def close(self) -> None:
        self.snapshot.close()


class DenseRetriever(Retriever):
    """Inner product of unit vectors (cosine similarity, in [-1, 1])."""

    def __init__(self, snapshot: Any, embedder: Any, min_score: float | None = None) -> None:
        super().__init__(snapshot, min_score)
        self.embedder = embedder

    def _search(self, query: str, k: int, filters: dict[str, Any] | None) -> list[tuple[int, float]]:
        if filters:
            raise ConfigError("filters are not supported by the dense retriever yet")
        index = self.snapshot.dense()
        if index.ntotal == 0:
            return []
        vector = self.embedder.embed([query])
        scores, ids = index.search(vector, min(k, index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def open_retriever(settings: Settings, kb: str, min_score: float | None = None) -> Retriever:
    """A retriever over the knowledge base named or pointed to by `kb`, with the embedder it was built with."""
    from ingest.embed import load_embedder
    from ingest.store import KnowledgeBase

    base = KnowledgeBase.open(settings.kb_path(kb, must_exist=True))
    embedder = load_embedder(base.manifest.embedder["name"], device=settings.device)
    return DenseRetriever(base.snapshot(), embedder, min_score=min_score)
