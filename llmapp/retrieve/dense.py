"""Dense retrieval: inner product of unit vectors (cosine similarity, in [-1, 1]) in the FAISS index."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ingest.store.dense_index import is_ivf
from llmapp.retrieve.base import Reranker, Retriever, Scored, embed_queries


def _faiss() -> Any:
    import faiss

    return faiss


# A flat search of a few queries is memory-bound: OpenMP threads only add start-up cost, and on a busy machine
# their spin-waiting made one 100k-vector query 5x slower (120 ms against 25 ms single-threaded).
_FEW_QUERIES = 4


@contextmanager
def _threads(faiss: Any, count: int | None) -> Iterator[None]:
    if count is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


# Past this many allowed ids a filtered search on an approximate (IVF) index probes its lists with an ID
# selector; up to it the allowed vectors are scored exactly (a filter to a few files must not lose their chunks
# to the lists an IVF search happens not to probe).
_EXACT_FILTER = 20_000


class DenseScorer:
    """The snapshot's FAISS index (exact or IVF, see ingest.store.dense_index), searched with an IDSelector when
    filtered, plus exact scores of any chunk ids (hybrid search scores the lexical candidates too)."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.dimension = int(index.d)
        self.approximate = is_ivf(index)
        if not self.approximate:
            faiss = _faiss()
            flat = faiss.downcast_index(index.index)
            flat_vectors = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self.dimension)
            self._vectors = flat_vectors.reshape(-1, self.dimension)
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            self._order = np.argsort(ids, kind="stable")
            self._sorted_ids = ids[self._order]

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def top(self, vectors: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each (queries, n); missing ids are -1."""
        faiss = _faiss()
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.approximate and allowed is not None and allowed.size <= _EXACT_FILTER:
            return self._exact_among(queries, n, allowed)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=int(self.index.nprobe)) if self.approximate
                      else faiss.SearchParameters(sel=selector))
            n = min(n, int(allowed.size))
        with _threads(faiss, 1 if len(queries) <= _FEW_QUERIES else None):
            scores, ids = self.index.search(queries, max(1, min(n, len(self))), params=params)
        return ids, scores

    def _exact_among(self, queries: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = max(1, min(n, int(allowed.size)))
        ids = np.full((len(queries), width), -1, dtype=np.int64)
        scores = np.full((len(queries), width), -np.inf, dtype=np.float32)
        if allowed.size == 0:
            return ids, scores
        scores_all = queries @ self._vectors_of(allowed).T
        best = np.argsort(-scores_all, axis=1, kind="stable")[:, :width]
        return allowed[best].astype(np.int64), np.take_along_axis(scores_all, best, axis=1)

    def _vectors_of(self, ids: np.ndarray) -> np.ndarray:
        if ids.size == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.approximate:
            return np.asarray(self.index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64)))
        return self._vectors[self._order[np.searchsorted(self._sorted_ids, ids)]]

    def scores_of(self, vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Cosine of `vector` with the chunks `ids` (all of which must be in the index)."""
        return self._vectors_of(ids) @ vector


class DenseRetriever(Retriever):
    """Cosine similarity of the query's and the chunk's embeddings, in [-1, 1]."""

    mode = "dense"
    score_range = "cosine similarity in [-1, 1]"

    def __init__(self, snapshot: Any, embedder: Any, min_score: float | None = None,
                 reranker: Reranker | None = None, rerank_top: int = 20) -> None:
        super().__init__(snapshot, min_score, reranker, rerank_top)
        self.embedder = embedder
        self._scorer: DenseScorer | None = None

    @property
    def scorer(self) -> DenseScorer:
        if self._scorer is None:
            self._scorer = DenseScorer(self.snapshot.dense())
        return self._scorer

    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        if len(self.scorer) == 0:
            return [[] for _ in queries]
        ids, scores = self.scorer.top(embed_queries(self.embedder, queries), n, allowed)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
                for row_ids, row_scores in zip(ids, scores, strict=True)]
