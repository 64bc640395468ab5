"""BM25 in Milvus with the local store's tokens and formula, so both stores score a query alike.

Each chunk's SPARSE_FLOAT_VECTOR holds, per term id, the term's BM25 saturation in that chunk,

    sat(t, c) = f * (k1 + 1) / (f + k1 * (1 - b + b * len(c) / avg_len)),

and a query's sparse vector holds idf(t) * (times t occurs in the query), with Lucene's non-negative
idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)) from the term table. Their inner product, which Milvus computes
server-side, is the local store's eager BM25 (ingest.lexical.LexicalIndex). The per-term maximum saturation
(`maxsat`) gives the best score a query could reach, which normalises lexical scores to [0, 1] as the local
store does (llmapp.retrieve.lexical).

Milvus's own BM25 function was measured and not used: the milvus-lite build offers only the `standard` and
`jieba` analyzers (not `chinese`), its scores differ from Lucene's formula, and a filtered search scored with
the statistics of the filtered rows only (docs/scale.md).

`avg_len` is the mean chunk length when a chunk is written: exact after a first ingest, and it drifts as later
ingests change the mean (idf never drifts: df and N are kept exact). A removed chunk leaves `maxsat` as an
upper bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75


def idf(df: int, n_chunks: int) -> float:
    return math.log1p((n_chunks - df + 0.5) / (df + 0.5))


def saturations(tokens: Sequence[str], avg_len: float) -> dict[str, float]:
    """{term: sat(term, chunk)} for a chunk's tokens."""
    norm = K1 * (1.0 - B + B * len(tokens) / max(avg_len, 1e-9))
    return {term: f * (K1 + 1.0) / (f + norm) for term, f in Counter(tokens).items()}


@dataclass
class Term:
    tid: int
    df: int
    maxsat: float


class TermTable:
    """The writer's view of the term statistics: loaded whole, changed in memory, upserted where changed."""

    def __init__(self, terms: dict[str, Term]) -> None:
        self.terms = terms
        self.changed: set[str] = set()
        self._by_tid = {entry.tid: term for term, entry in terms.items()}
        self._next_tid = max(self._by_tid, default=-1) + 1

    def add(self, sats: dict[str, float]) -> dict[int, float]:
        """Count a new chunk's terms; its sparse vector {tid: sat}."""
        vector: dict[int, float] = {}
        for term, sat in sats.items():
            entry = self.terms.get(term)
            if entry is None:
                entry = self.terms[term] = Term(self._next_tid, 0, 0.0)
                self._by_tid[entry.tid] = term
                self._next_tid += 1
            entry.df += 1
            entry.maxsat = max(entry.maxsat, sat)
            self.changed.add(term)
            vector[entry.tid] = float(sat)
        return vector

    def remove(self, tids: Iterable[int]) -> None:
        """Uncount a removed chunk's term ids."""
        for tid in tids:
            term = self._by_tid.get(int(tid))
            if term is not None:
                self.terms[term].df = max(0, self.terms[term].df - 1)
                self.changed.add(term)

    def max_weight(self, n_chunks: int) -> float:
        """The highest idf * maxsat of any term in use: what a query term the knowledge base lacks counts as."""
        return max((idf(t.df, n_chunks) * t.maxsat for t in self.terms.values() if t.df > 0), default=1.0)


@dataclass(frozen=True)
class LexicalQuery:
    """A query's sparse vector and the best BM25 it could reach in the knowledge base."""

    vector: dict[int, float]
    best: float


def lexical_query(tokens: Sequence[str], known: dict[str, Term], n_chunks: int, unknown_weight: float) -> LexicalQuery:
    """`known`: the term-table rows of the query's terms (terms absent or with df 0 are unknown)."""
    vector: dict[int, float] = {}
    best = 0.0
    for term, count in Counter(tokens).items():
        entry = known.get(term)
        if entry is None or entry.df == 0:
            best += unknown_weight * count
            continue
        weight = idf(entry.df, n_chunks)
        vector[entry.tid] = weight * count
        best += weight * entry.maxsat * count
    return LexicalQuery(vector, best)
