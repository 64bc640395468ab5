"""Retrievers over a Milvus knowledge base (ingest.milvus): Milvus runs the dense and the BM25 searches
server-side; the scores and the hybrid fusion are the local store's (llmapp.retrieve.hybrid.fuse), so both
stores rank a query alike.

Hybrid, per query: the dense top 100 and the BM25 top 100 (filtered by Milvus), then the exact cosine and BM25 of
every pooled candidate (its vector fetched, its BM25 from a search restricted to the pool), fused as locally.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llmapp.retrieve.base import Retriever, Scored, embed_queries
from llmapp.retrieve.dense import DenseRetriever
from llmapp.retrieve.hybrid import _CANDIDATES, HybridRetriever, fuse


class MilvusDenseRetriever(DenseRetriever):
    """Cosine similarity of the query's and the chunk's embeddings, in [-1, 1], searched by Milvus."""

    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        found: list[Scored] = self.snapshot.dense_search(embed_queries(self.embedder, queries), n, allowed)
        return found


class MilvusLexicalRetriever(Retriever):
    """BM25 normalised to [0, 1] by the best score the query could reach, searched by Milvus."""

    mode = "lexical"
    score_range = "BM25 / best reachable BM25, in [0, 1]"

    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        out: list[Scored] = []
        for query in self.snapshot.lexical_queries(queries):
            best = max(query.best, 1e-9)
            out.append([(cid, min(raw / best, 1.0)) for cid, raw in self.snapshot.lexical_search(query, n, allowed)])
        return out


class MilvusHybridRetriever(HybridRetriever):
    """The local hybrid fusion (llmapp.retrieve.hybrid) over Milvus's dense and BM25 searches."""

    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        if self.snapshot.n_chunks == 0:
            return [[] for _ in queries]
        vectors = embed_queries(self.embedder, queries)
        dense = self.snapshot.dense_search(vectors, max(n, _CANDIDATES), allowed)
        lexical = self.snapshot.lexical_queries(queries)
        return [self._fuse_one(query, vector, found, bm25, n, allowed)
                for query, vector, found, bm25 in zip(queries, vectors, dense, lexical, strict=True)]

    def _fuse_one(self, query: str, vector: np.ndarray, dense: Scored, bm25: Any, n: int,
                  allowed: np.ndarray | None) -> Scored:
        top_lexical = self.snapshot.lexical_search(bm25, max(n, _CANDIDATES), allowed)
        pool = np.union1d(np.asarray([cid for cid, _ in dense], dtype=np.int64),
                          np.asarray([cid for cid, _ in top_lexical], dtype=np.int64))
        if pool.size == 0:
            return []
        cosines = self.snapshot.vectors_of(pool) @ vector
        return fuse(pool, cosines, self._lexical_of(bm25, pool), self.dense_weight(query), n,
                    *self.candidates(query, pool))

    def _lexical_of(self, bm25: Any, pool: np.ndarray) -> np.ndarray:
        """Normalised BM25 of each pooled chunk (0 where it shares no term with the query)."""
        raw = dict(self.snapshot.lexical_search(bm25, int(pool.size), pool))
        best = max(bm25.best, 1e-9)
        return np.asarray([min(raw.get(int(cid), 0.0) / best, 1.0) for cid in pool], dtype=np.float32)
