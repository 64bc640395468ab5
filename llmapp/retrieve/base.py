"""Retrieval over a knowledge base: `Retriever.search(query, k, filters) -> list[Hit]`, higher is better.

`Retriever.search_many` does the shared work: validation, metadata filters (resolved to the allowed chunk ids
before ranking), a candidate pool larger than k, optional cross-encoder reranking, `min_score`, near-duplicate
removal (a neighbouring chunk that ranks among the k best is joined to the better one) and provenance from the
docstore. An implementation only turns a batch of queries into
(chunk id, score) lists, best first, in `_search`.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from llmapp.errors import ConfigError
from llmapp.hits import Hit
from llmapp.retrieve.filters import Filters, allowed_chunk_ids

Scored = list[tuple[int, float]]
FilterSpec = Filters | Mapping[str, Any] | None

# Candidates fetched per query before near-duplicates are removed: enough that k distinct hits survive.
_POOL_FACTOR = 3
_POOL_EXTRA = 10


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant. Scores should lie in [0, 1]."""

    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


class Retriever(ABC):
    """Base class: implement `_search`; call `search` or `search_many`."""

    mode: str = "custom"
    score_range: str = "higher is better"

    def __init__(self, snapshot: Any, min_score: float | None = None, reranker: Reranker | None = None,
                 rerank_top: int = 20) -> None:
        self.snapshot = snapshot  # ingest.store.Snapshot
        self.min_score = min_score
        self.reranker = reranker
        self.rerank_top = rerank_top

    def search(self, query: str, k: int = 5, filters: FilterSpec = None, join_neighbours: bool = True) -> list[Hit]:
        """The k best distinct passages for `query`; [] means nothing relevant (all below `min_score`). A chunk
        next to a better hit of the same document is no passage of its own: when it ranks among the k best, its
        text is joined to the better hit's (`join_neighbours`, see `distinct`), otherwise it is dropped."""
        if not query.strip():
            raise ConfigError("the query is empty")
        return self.search_many([query], k, filters, join_neighbours)[0]

    def search_many(self, queries: Sequence[str], k: int = 5, filters: FilterSpec = None,
                    join_neighbours: bool = True) -> list[list[Hit]]:
        """`search` for a batch of queries: models run once per batch, not once per query. A blank query in a
        batch gets no hits rather than failing the whole batch."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        blank = [i for i, query in enumerate(queries) if not query.strip()]
        if blank:
            asked = [q for q in queries if q.strip()]
            results = self.search_many(asked, k, filters, join_neighbours) if asked else []
            for i in blank:
                results.insert(i, [])
            return results
        wanted = Filters.parse(filters)
        allowed = allowed_chunk_ids(self.snapshot, wanted) if wanted else None
        if allowed is not None and allowed.size == 0:
            return [[] for _ in queries]
        pool = max(k * _POOL_FACTOR + _POOL_EXTRA, self.rerank_top if self.reranker else 0)
        scored = self._search(list(queries), pool, allowed)
        return [self._hits(query, pairs, k, join_neighbours)
                for query, pairs in zip(queries, scored, strict=True)]

    def _hits(self, query: str, scored: Scored, k: int, join_neighbours: bool) -> list[Hit]:
        records = self.snapshot.chunks(cid for cid, _ in scored)
        hits = [_hit(records[cid], score) for cid, score in scored if cid in records]
        hits = distinct(hits, join_within=k if join_neighbours else 0)
        if self.reranker is not None:
            hits = rerank(self.reranker, query, hits, self.rerank_top)
        if self.min_score is not None:
            hits = [h for h in hits if h.score >= self.min_score]
        hits = hits[:k]
        for rank, hit in enumerate(hits, start=1):
            hit.rank = rank
        return hits

    @abstractmethod
    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        """For each query, up to n (chunk id, score) pairs, best first, only among `allowed` ids if given."""

    def close(self) -> None:
        self.snapshot.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hit(record: Any, score: float) -> Hit:
    return Hit(rank=0, score=float(score), text=record.text, source=record.source, doc_id=record.doc_id,
               chunk_id=record.chunk_id, ordinal=record.ordinal, span=(record.start, record.end),
               metadata=record.metadata)


def distinct(hits: list[Hit], join_within: int = 0) -> list[Hit]:
    """Distinct passages from hits ranked best first. A hit whose text equals a better hit's is dropped. A hit
    that is the same document's neighbour of a better hit (ordinals one apart) or overlaps its span (chunks share
    `overlap` tokens) is dropped too, unless it ranks among the first `join_within` distinct hits: then its text
    is joined to the better hit's (once per hit, so a passage spans at most two chunks). Dropping it there lost
    answers: on the seed articles the chunk holding "PyTorch ... 动态计算图" ranked 2nd, right after the chunk
    before it, and was never shown."""
    kept: list[Hit] = []
    texts: set[str] = set()
    joined: set[int] = set()
    for hit in hits:
        if hit.text in texts:
            continue
        near = next((i for i, other in enumerate(kept) if _near(hit, other)), None)
        if near is None:
            kept.append(hit)
        elif len(kept) < join_within and near not in joined:
            kept[near] = join(kept[near], hit)
            joined.add(near)
        else:
            continue
        texts.add(hit.text)
    return kept


def join(better: Hit, neighbour: Hit) -> Hit:
    """`better` with `neighbour`'s text added in document order (their shared overlap once) and the union span;
    rank, score, chunk id and ordinal stay `better`'s."""
    first, second = sorted((better, neighbour), key=lambda h: h.span)
    gap = second.span[0] - first.span[1]  # < 0: overlap; > 0: the whitespace between them
    if gap < 0 and -gap <= len(second.text) and first.text.endswith(second.text[:-gap]):
        text = first.text + second.text[-gap:]
    else:
        text = first.text + ("" if gap == 0 else " " if gap == 1 else "\n\n") + second.text
    span = (min(first.span[0], second.span[0]), max(first.span[1], second.span[1]))
    return replace(better, text=text, span=span)


def _near(a: Hit, b: Hit) -> bool:
    if a.source != b.source or a.doc_id != b.doc_id:
        return False
    overlap = a.span[0] < b.span[1] and b.span[0] < a.span[1]
    return overlap or abs(a.ordinal - b.ordinal) <= 1


def rerank(reranker: Reranker, query: str, hits: list[Hit], top: int) -> list[Hit]:
    """Reorder the first `top` hits by the reranker's scores (which replace theirs); the rest are dropped,
    since their scores are on another scale."""
    head = hits[:top]
    if not head:
        return head
    scores = reranker.score(query, [h.text for h in head])
    for hit, score in zip(head, scores, strict=True):
        hit.score = float(score)
    return sorted(head, key=lambda h: -h.score)


# One short query is too little work to share between threads: on this 2-core machine, busy with other jobs,
# MiniLM took 141 ms (p50) / 810 ms (p95) per query with torch's 2 intra-op threads and 17 / 25 ms with one.
_FEW_QUERIES = 4


def embed_queries(embedder: Any, queries: Sequence[str]) -> np.ndarray:
    """Query vectors; a handful of queries is embedded on one torch thread (see above)."""
    torch = sys.modules.get("torch")
    if torch is None or len(queries) > _FEW_QUERIES:
        return embedder.embed(list(queries), role="query")
    with _torch_threads(torch, 1):
        return embedder.embed(list(queries), role="query")


@contextmanager
def _torch_threads(torch: Any, count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
