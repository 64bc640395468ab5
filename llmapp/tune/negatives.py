"""Hard negatives mined with the knowledge base's own hybrid search, with a guard against false negatives.

A hard negative is a passage the current search ranks high for a query although it belongs to another
document. Some of those are in truth relevant (the corpus says the same thing twice): training would push the
query away from a right answer. So a mined passage is dropped when it

  - scores at or above the query's own positive (the search prefers it: it may well answer the query), or
  - is a near-duplicate of the positive (character 3-gram overlap >= NEAR_DUPLICATE of the shorter text),

and a query whose positive is not among the top `depth` hits gets no negative at all (every candidate outranks
its positive). The first passage that survives is the negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmapp.hits import Hit
from llmapp.tune.queries import PseudoQuery

NEAR_DUPLICATE = 0.6
DEPTH = 20


@dataclass(frozen=True)
class Triple:
    """A training example for the embedding task."""

    query: str
    positive: str
    negative: str | None


@dataclass
class MiningReport:
    """How many candidates the guard dropped, and why."""

    queries: int = 0
    with_negative: int = 0
    positive_not_found: int = 0
    dropped_above_positive: int = 0
    dropped_near_duplicate: int = 0


def _shingles(text: str) -> set[str]:
    squeezed = "".join(text.lower().split())
    return {squeezed[i : i + 3] for i in range(max(len(squeezed) - 2, 1))}


def near_duplicate(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    """True when most 3-grams of the shorter text also occur in the longer (works for Chinese and English)."""
    first, second = _shingles(a), _shingles(b)
    return len(first & second) / max(min(len(first), len(second)), 1) >= threshold


def pick_negative(query: PseudoQuery, hits: Sequence[Hit], report: MiningReport) -> str | None:
    """The best hit of another document that passes the guard (see the module doc), or None."""
    own = next((hit for hit in hits if hit.chunk_id == query.chunk_id), None)
    if own is None:
        report.positive_not_found += 1
        return None
    for hit in hits:
        if hit.chunk_id == query.chunk_id or (hit.source, hit.doc_id) == query.document:
            continue
        if hit.score >= own.score:
            report.dropped_above_positive += 1
        elif near_duplicate(hit.text, query.positive) or near_duplicate(hit.text, own.text):
            report.dropped_near_duplicate += 1
        else:
            return hit.text
    return None


def mine(retriever: Any, queries: Sequence[PseudoQuery], depth: int = DEPTH,
         batch_size: int = 64) -> tuple[list[Triple], MiningReport]:
    """A triple per query, its negative mined with `retriever.search_many` (None when the guard kept none)."""
    report = MiningReport(queries=len(queries))
    triples: list[Triple] = []
    for begin in range(0, len(queries), batch_size):
        batch = queries[begin : begin + batch_size]
        # Chunks as they are: a negative joined with its neighbour would be a passage the model never sees.
        found = retriever.search_many([q.text for q in batch], depth, join_neighbours=False)
        for query, hits in zip(batch, found, strict=True):
            negative = pick_negative(query, hits, report)
            report.with_negative += negative is not None
            triples.append(Triple(query.text, query.positive, negative))
    return triples, report
