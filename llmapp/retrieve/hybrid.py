"""Hybrid retrieval: dense and lexical scores fused into one score in [0, 1], weighted per query language.

    score = w * dense + (1 - w) * lexical
    dense   = the cosine similarity rescaled over the candidate pool: (cos - worst) / (best - worst), in [0, 1].
              Raw cosines sit where the model puts them (MiniLM spreads them over [0, 0.8], e5 packs them into
              [0.7, 0.9]); rescaled, the best candidate scores 1 with any model. A multilingual model also puts
              passages in the question's language above better ones in another language (e5-small ranks English
              code and reference lists above the Chinese paragraph that answers an English question), so the
              candidates in another language than the question are rescaled among themselves too, and keep the
              higher of the two: the best of them scores 1 as well, and BM25 and the order within each language
              decide between them
    lexical = BM25 / the best BM25 the query could reach in this knowledge base (LexicalScorer), in [0, 1]
    noise   = the share of the chunk's text in code, bibliography or page-furniture lines: the score is multiplied
              by 1 - NOISE_PENALTY x noise unless the query asks for code. For an English question over Chinese
              articles, reference lists ("...Trained on 175 Billion Parameter AI Chips. arXiv preprint...") and code
              share its English words and outranked the Chinese paragraph that answers it
    w       = the dense weight for the query's language (share of CJK ideographs, llmapp.language), scaled by
              how well the embedder covers that language (llmapp.retrieve.coverage)

Both retrievers' candidates are pooled and every candidate gets both scores exactly (not 0 when one retriever
missed it), so the fused ranking is a true weighted sum. Naive rank fusion (RRF) gives a weak retriever the
same say as a strong one; in Chinese with an English-only embedder that sinks BM25's good ranking, which the
coverage scaling prevents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmapp.generate.sentences import asks_for_code, noise_share
from llmapp.language import Language, detect_language
from llmapp.retrieve.base import Reranker, Retriever, Scored, embed_queries
from llmapp.retrieve.dense import DenseScorer
from llmapp.retrieve.lexical import LexicalScorer

NoiseOf = Callable[[np.ndarray], np.ndarray]  # positions in the candidate pool -> their noise shares
# Candidates each retriever contributes before fusion.
_CANDIDATES = 100
# A chunk all code or bibliography keeps this much less of its score for a question that does not ask for code.
NOISE_PENALTY = 0.5


@dataclass(frozen=True)
class FusionWeights:
    """Dense weight per query language for an embedder that fully covers it (coverage 1)."""

    dense: Mapping[str, float] = field(default_factory=lambda: {"en": 0.5, "zh": 0.5})

    def dense_weight(self, language: Language, coverage: float) -> float:
        return float(np.clip(self.dense.get(language, 0.5) * coverage, 0.0, 1.0))


class HybridRetriever(Retriever):
    """Weighted sum of normalised dense and lexical scores, in [0, 1] (see the module docstring)."""

    mode = "hybrid"
    score_range = "weighted dense cosine + normalised BM25, in [0, 1]"

    def __init__(self, snapshot: Any, embedder: Any, coverage: Mapping[str, float] | None = None,
                 weights: FusionWeights | None = None, min_score: float | None = None,
                 reranker: Reranker | None = None, rerank_top: int = 20) -> None:
        super().__init__(snapshot, min_score, reranker, rerank_top)
        self.embedder = embedder
        self.coverage = dict(coverage or {"en": 1.0, "zh": 1.0})
        self.weights = weights or FusionWeights()
        self._dense: DenseScorer | None = None
        self._lexical: LexicalScorer | None = None
        self._languages: dict[int, Language] = {}  # chunk id -> language, read once
        self._noise: dict[int, float] = {}  # chunk id -> noise share, read once when fusion needs it

    @property
    def dense(self) -> DenseScorer:
        if self._dense is None:
            self._dense = DenseScorer(self.snapshot.dense())
        return self._dense

    @property
    def lexical(self) -> LexicalScorer:
        if self._lexical is None:
            self._lexical = LexicalScorer(self.snapshot.lexical())
        return self._lexical

    def dense_weight(self, query: str) -> float:
        language = detect_language(query)
        return self.weights.dense_weight(language, self.coverage.get(language, 1.0))

    def candidates(self, query: str, pool: np.ndarray) -> tuple[np.ndarray, NoiseOf | None]:
        """For the chunk ids of `pool`: which are in another language than `query`, and how to read the noise
        share of some of them (None when the query asks for code). Both from the chunks' text, each read once per
        chunk; the noise shares only for the candidates `fuse` asks about (the few that can reach the top)."""
        missing = [int(cid) for cid in pool if int(cid) not in self._languages]
        if missing:
            for cid, record in self.snapshot.chunks(missing).items():
                self._languages[cid] = detect_language(record.text)
        language = detect_language(query)
        other = np.asarray([self._languages.get(int(cid), language) != language for cid in pool], dtype=bool)
        if asks_for_code(query):
            return other, None

        def noise_of(positions: np.ndarray) -> np.ndarray:
            ids = [int(pool[i]) for i in positions]
            unread = [cid for cid in ids if cid not in self._noise]
            if unread:
                for cid, record in self.snapshot.chunks(unread).items():
                    self._noise[cid] = noise_share(record.text)
            return np.asarray([self._noise.get(cid, 0.0) for cid in ids], dtype=np.float32)

        return other, noise_of

    def _search(self, queries: list[str], n: int, allowed: np.ndarray | None) -> list[Scored]:
        if len(self.dense) == 0:
            return [[] for _ in queries]
        vectors = embed_queries(self.embedder, queries)
        dense_ids, _ = self.dense.top(vectors, max(n, _CANDIDATES), allowed)
        rows = None if allowed is None else self.lexical.rows_of(allowed)
        return [self._fuse(query, vector, ids[ids >= 0], rows, n)
                for query, vector, ids in zip(queries, vectors, dense_ids, strict=True)]

    def _fuse(self, query: str, vector: np.ndarray, dense_ids: np.ndarray, rows: np.ndarray | None,
              n: int) -> Scored:
        lexical = self.lexical.scores(query, rows)
        lexical_ids = self.lexical.index.chunk_ids[self.lexical.top(lexical, max(n, _CANDIDATES))]
        pool = np.union1d(dense_ids, lexical_ids)
        return fuse(pool, self.dense.scores_of(vector, pool), lexical[self.lexical.rows_of(pool)],
                    self.dense_weight(query), n, *self.candidates(query, pool))


def fuse(pool: np.ndarray, cosines: np.ndarray, lexical: np.ndarray, w: float, n: int,
         other_language: np.ndarray | None = None, noise: NoiseOf | None = None) -> Scored:
    """The n best of the sorted candidate ids `pool` by w * dense + (1 - w) * normalised BM25, where dense is the
    cosine rescaled over the pool, or for the candidates marked `other_language`, over them alone when that is
    higher; times 1 - NOISE_PENALTY x the noise share (see the module doc), which `noise` gives for positions of
    the pool and is asked only for the candidates that can still reach the n best; equal scores rank by the
    unpenalised score. Every backend fuses here, so a Milvus knowledge base ranks as a local one."""
    dense = rescale(cosines)
    if other_language is not None and other_language.any():
        dense[other_language] = np.maximum(dense[other_language], rescale(cosines[other_language]))
    fused = w * dense + (1.0 - w) * lexical
    if noise is None:
        best = np.argsort(-fused, kind="stable")[:n]
        return [(int(pool[i]), float(fused[i])) for i in best]
    positions, scores = _penalised(fused, n, noise)
    best = np.argsort(-scores, kind="stable")[:n]
    return [(int(pool[positions[i]]), float(scores[i])) for i in best]


def _penalised(fused: np.ndarray, n: int, noise_of: NoiseOf) -> tuple[np.ndarray, np.ndarray]:
    """The positions that decide the n best, in order of unpenalised score, and their penalised scores: the n best
    unpenalised, then every other one whose unpenalised score (its best possible) is above the n-th best penalised
    score so far, until none is. Equal penalised scores rank by unpenalised order, so the n best are those of
    penalising every candidate. A candidate scoring 0 stays 0 whatever its noise, which is then not read."""
    order = np.argsort(-fused, kind="stable")
    descending = fused[order]
    scores = np.empty(0, dtype=fused.dtype)
    taken, reach = 0, min(n, order.size)
    while reach > taken:
        batch = order[taken:reach]
        shares = np.zeros(batch.size, dtype=fused.dtype)
        live = fused[batch] > 0
        if live.any():
            shares[live] = noise_of(batch[live])
        scores = np.concatenate([scores, fused[batch] * (1.0 - NOISE_PENALTY * shares)])
        taken = reach
        nth = np.partition(scores, taken - n)[taken - n] if taken >= n else -np.inf
        reach = max(taken, int(np.searchsorted(-descending, -nth, side="left")))
    return order[:taken], scores


def rescale(scores: np.ndarray) -> np.ndarray:
    """`scores` mapped linearly onto [0, 1], the best to 1 and the worst to 0 (all 1 when they are equal)."""
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.ones_like(scores)
    return (scores - low) / (high - low)
