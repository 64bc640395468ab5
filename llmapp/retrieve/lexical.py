"""Lexical retrieval: BM25 over the knowledge base's jieba/Snowball tokens (ingest.lexical).

Raw BM25 is unbounded, so the lexical retriever reports it normalised by the best score the query could
reach in this knowledge base (the sum, over the query's terms, of each term's highest weight in any chunk):
1.0 means no chunk could match the query better, and a query term the knowledge base has never seen counts
as a missed term of the highest weight. Scores are in [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llmapp.retrieve.base import Reranker, Retriever, Scored


class LexicalScorer:
    """Full per-chunk BM25 score vectors for a query, masked to the allowed chunks, normalised to [0, 1]."""

    def __init__(self, index: Any) -> None:
        self.index = index
        weights = index.weights  # CSC, chunks x terms
        self._column_max = np.zeros(weights.shape[1], dtype=np.float32)
        nonempty = np.flatnonzero(np.diff(weights.indptr))
        if nonempty.size:
            self._column_max[nonempty] = np.maximum.reduceat(weights.data, weights.indptr[nonempty])
        self._unknown_weight = float(self._column_max.max()) if self._column_max.size else 1.0

    def __len__(self) -> int:
        return len(self.index)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.index.chunk_ids, ids)

    def scores(self, query: str, allowed_rows: np.ndarray | None) -> np.ndarray:
        """Normalised BM25 of every chunk (row order of the index); 0 where not allowed or nothing matches."""
        from ingest.lexical import tokenize

        tokens = tokenize(query)
        columns = [self.index.vocabulary[t] for t in tokens if t in self.index.vocabulary]
        out = np.zeros(len(self), dtype=np.float32)
        if not columns:
            return out
        # Repeated query terms count once per occurrence, as in Lucene's BM25 query.
        unique, counts = np.unique(columns, return_counts=True)
        raw = self.index.weights[:, unique] @ counts.astype(np.float32)
        best = float(self._column_max[unique] @ counts) + self._unknown_weight * (len(tokens) - len(columns))
        out[:] = np.minimum(np.asarray(raw).ravel() / max(best, 1e-9), 1.0)  # float rounding
        if allowed_rows is not None:
            mask = np.zeros(len(self), dtype=bool)
            mask[allowed_rows] = True
            out[~mask] = 0.0
        return out

    def top(self, scores: np.ndarray, n: int) -> np.ndarray:
        """Rows of the n best positive scores, best first."""
        candidates = np.flatnonzero(scores > 0)
        if candidates.size > n:
            candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
        return candidates[np.argsort(-scores[candidates], kind="stable")]


class LexicalRetriever(Retriever):
    """BM25 normalised to [0, 1] by the best score the query could reach (see the module docstring)."""

    mode = "lexical"
    score_range = "BM25 / best reachable BM25, in [0, 1]"

    def __init__(self, snapshot: Any, min_score: float | None = None, reranker: Reranker | None = None,
                 rerank_top: int = 20) -> None:
        super().__init__(snapshot, min_score, reranker, rerank_top)
        self._scorer: LexicalScorer | None = None

    @property
    def scorer(self) -> LexicalScorer:
        if self._scorer is None:
            self._scorer = LexicalScorer(self.snapshot.lexical())
        return self._scorer

    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        rows = None if allowed is None else self.scorer.rows_of(allowed)
        out: list[Scored] = []
        for query in queries:
            scores = self.scorer.scores(query, rows)
            best = self.scorer.top(scores, n)
            out.append([(int(self.scorer.index.chunk_ids[r]), float(scores[r])) for r in best])
        return out
