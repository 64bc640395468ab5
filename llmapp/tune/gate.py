"""The gate: promote a tuned embedder only when the knowledge base's hybrid search measurably improves.

Each judged query is searched before (live embedder) and after (tuned embedder over the staged vectors);
nDCG@10 and recall@10 are scored per query, per document (as `llmapp eval retrieval` does). The decision uses
the primary set (the user's own questions when given, else the held-out pseudo-queries):

    promote  <=>  mean nDCG@10 gain > margin  AND  the paired bootstrap 95% interval of the gain is above 0
                  AND no other set got significantly worse (its interval entirely below 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmapp.eval_retrieval import score_ranking
from llmapp.hits import Hit

GATED = ("ndcg@10", "recall@10")
SEARCH_DEPTH = 40
DocKey = Callable[[Hit], str]


def by_source(hit: Hit) -> str:
    """A knowledge base document as pseudo-queries know it: the file and the document within it."""
    return f"{hit.source}#{hit.doc_id}"


def by_doc_id(hit: Hit) -> str:
    """A document as BEIR qrels name it (the corpus id)."""
    return hit.doc_id


@dataclass
class Judged:
    """Queries with their relevant documents ({key: grade}), keyed the way `key` reads a hit."""

    name: str
    queries: list[str]
    relevant: list[dict[str, int]]
    key: DocKey = by_source


def per_query(search: Callable[[Sequence[str], int], list[list[Hit]]], judged: Judged,
              batch_size: int = 64) -> list[dict[str, float]]:
    """nDCG@10 and recall@10 of each query of `judged` under `search`."""
    out: list[dict[str, float]] = []
    for begin in range(0, len(judged.queries), batch_size):
        results = search(judged.queries[begin : begin + batch_size], SEARCH_DEPTH)
        for hits, relevant in zip(results, judged.relevant[begin : begin + batch_size], strict=True):
            ranking = list(dict.fromkeys(judged.key(hit) for hit in hits))
            scores = score_ranking(ranking, relevant)
            out.append({name: scores[name] for name in GATED})
    return out


def paired_bootstrap(before: Sequence[float], after: Sequence[float], resamples: int = 2000,
                     seed: int = 13) -> tuple[float, float, float]:
    """Mean gain (after - before) and its 95% percentile interval over queries resampled with replacement."""
    gains = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    if gains.size == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = gains[rng.integers(0, gains.size, size=(resamples, gains.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(gains.mean()), float(low), float(high)


@dataclass
class SetResult:
    name: str
    queries: int
    before: dict[str, float]
    after: dict[str, float]
    gain: float  # mean nDCG@10 gain
    interval: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "before": self.before, "after": self.after,
                "ndcg@10_gain": round(self.gain, 4),
                "ndcg@10_gain_95ci": [round(self.interval[0], 4), round(self.interval[1], 4)]}


def compare(name: str, before: Sequence[Mapping[str, float]], after: Sequence[Mapping[str, float]]) -> SetResult:
    def mean(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
        return {m: round(float(np.mean([r[m] for r in rows])) if rows else 0.0, 4) for m in GATED}

    gain, low, high = paired_bootstrap([r["ndcg@10"] for r in before], [r["ndcg@10"] for r in after])
    return SetResult(name, len(before), mean(before), mean(after), gain, (low, high))


@dataclass
class Decision:
    promote: bool
    reason: str
    margin: float
    sets: list[SetResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "reason": self.reason, "margin": self.margin,
                "sets": {s.name: s.to_dict() for s in self.sets}}


def decide(sets: Sequence[SetResult], margin: float) -> Decision:
    """Apply the rule of the module doc; the first set is the primary one."""
    if not sets or sets[0].queries == 0:
        return Decision(False, "no held-out queries to measure on; the embedder is kept", margin, list(sets))
    primary = sets[0]
    figures = (f"nDCG@10 {primary.before['ndcg@10']:.4f} -> {primary.after['ndcg@10']:.4f} on {primary.queries} "
               f"{primary.name} (gain {primary.gain:+.4f}, 95% CI [{primary.interval[0]:+.4f}, "
               f"{primary.interval[1]:+.4f}])")
    worse = [s.name for s in sets[1:] if s.queries and s.interval[1] < 0]
    if primary.gain <= margin:
        return Decision(False, f"kept the embedder: {figures}; the gain is not above the margin {margin}", margin,
                        list(sets))
    if primary.interval[0] <= 0:
        return Decision(False, f"kept the embedder: {figures}; the interval reaches 0, the gain may be chance",
                        margin, list(sets))
    if worse:
        return Decision(False, f"kept the embedder: {figures}, but {', '.join(worse)} got significantly worse",
                        margin, list(sets))
    return Decision(True, f"promoted: {figures}", margin, list(sets))
