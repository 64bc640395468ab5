"""What every classifier returns, and the one place where scores become labels.

A scorer (fine-tuned model, embedding zero-shot, LLM zero-shot) only produces a score matrix of shape
(texts, labels); `to_predictions` turns it into `Prediction`s the same way for all of them, so `--top-k` and
`--threshold` behave identically whatever model is behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """One text's result. `top` holds the best (label, score) pairs, best first; `labels` the multi-label set."""

    label: str
    score: float
    top: tuple[tuple[str, float], ...] = ()
    labels: tuple[str, ...] = field(default=())


class Scorer(Protocol):
    """Anything that scores texts against a fixed label list (rows: texts, columns: `labels`)."""

    labels: list[str]
    multi_label: bool  # scores are independent (sigmoid) rather than a distribution (softmax)

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def to_predictions(
    scores: np.ndarray, labels: Sequence[str], top_k: int = 1, threshold: float | None = None
) -> list[Prediction]:
    """Best label per row; with `top_k` the k best pairs; with `threshold` every label scoring >= it."""
    assert scores.ndim == 2 and scores.shape[1] == len(labels), f"scores {scores.shape} vs {len(labels)} labels"
    k = max(1, min(top_k, len(labels)))
    # argsort on -scores is stable, so ties resolve to the lower label id, like argmax
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    results = []
    for row, best in zip(scores, order, strict=True):
        top = tuple((labels[int(i)], float(row[i])) for i in best)
        chosen = tuple(labels[int(i)] for i in np.flatnonzero(row >= threshold)) if threshold is not None else ()
        results.append(Prediction(label=top[0][0], score=top[0][1], top=top if top_k > 1 else (), labels=chosen))
    return results
