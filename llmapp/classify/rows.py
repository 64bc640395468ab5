"""The batch function: rows in, output records out. One window of rows at a time, in two stages:

- `prepare(scorer, rows, spec)`: checks each row's text and tokenises the good ones (runs in a reader thread);
- `score(scorer, window, ...)`: runs the model and builds the output records (runs where the model lives).

`classify_rows` chains both. The single-machine file loop (`llmapp.classify.job`) calls them; a Ray Data
`map_batches` actor holding a scorer can call `classify_rows` on its batch unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from llmapp.classify.predictions import to_predictions
from llmapp.classify.tables import Row, clean, has_undecodable


class BatchScorer(Protocol):
    """A scorer split into a CPU-side `encode` (thread-safe, no model) and the model-side `run`."""

    labels: list[str]

    def encode(self, texts: Sequence[str]) -> Any: ...

    def run(self, encoded: Any, batch_size: int = 64) -> np.ndarray: ...


@dataclass(frozen=True)
class OutputSpec:
    """Which column holds the text and which result columns to add (named after `names`)."""

    text_column: str
    id_column: str | None = None
    top_k: int = 1
    threshold: float | None = None

    def added(self) -> list[str]:
        columns = ["label", "score"]
        if self.top_k > 1:
            columns += [f"{kind}_{i}" for i in range(1, self.top_k + 1) for kind in ("label", "score")]
        if self.threshold is not None:
            columns.append("labels")
        return columns + ["status", "error"]

    def names(self, input_columns: Sequence[str]) -> dict[str, str]:
        """Result column -> output name; `pred_` prefixed where the input already has that column."""
        taken = set(input_columns)
        return {name: f"pred_{name}" if name in taken else name for name in self.added()}


@dataclass
class Window:
    rows: list[Row]
    good: list[int]  # positions in `rows` whose text is classified
    errors: dict[int, str]  # position -> why the row was not classified
    encoded: Any


def text_or_error(row: Row, spec: OutputSpec) -> tuple[str | None, str | None]:
    """The row's text, or (None, reason) for a row that cannot be classified."""
    if row.error:
        return None, row.error
    if spec.id_column and row.values.get(spec.id_column) in (None, ""):
        return None, f"missing id column '{spec.id_column}'"
    value = row.values.get(spec.text_column)
    if value is None:
        return None, f"missing column '{spec.text_column}'"
    if not isinstance(value, str):
        return None, f"not text: '{spec.text_column}' holds a {type(value).__name__}"
    if has_undecodable(value):
        return None, "undecodable bytes (not UTF-8)"
    if not value.strip():
        return None, "empty text"
    return value, None


def prepare(scorer: BatchScorer, rows: list[Row], spec: OutputSpec) -> Window:
    texts, good, errors = [], [], {}
    for position, row in enumerate(rows):
        text, error = text_or_error(row, spec)
        if text is None:
            errors[position] = error or "unreadable row"
        else:
            good.append(position)
            texts.append(text)
    return Window(rows, good, errors, scorer.encode(texts) if texts else None)


def score(
    scorer: BatchScorer, window: Window, spec: OutputSpec, names: dict[str, str], batch_size: int = 64
) -> list[dict[str, Any]]:
    """Output records in input order: the input values plus the result columns."""
    results: dict[int, dict[str, Any]] = {}
    if window.good:
        matrix = scorer.run(window.encoded, batch_size)
        unscored = np.isnan(matrix).all(axis=1)  # e.g. an LLM reply that named no label
        predictions = to_predictions(np.nan_to_num(matrix, nan=-np.inf), scorer.labels, spec.top_k,
                                     spec.threshold)
        for i, (position, prediction, missing) in enumerate(zip(window.good, predictions, unscored, strict=True)):
            if missing:
                window.errors[position] = _why_unscored(scorer, i)
                continue
            found: dict[str, Any] = {"label": prediction.label, "score": round(prediction.score, 6),
                                     "status": "ok", "error": ""}
            for i, (label, value) in enumerate(prediction.top, start=1):
                found[f"label_{i}"], found[f"score_{i}"] = label, round(value, 6)
            if spec.threshold is not None:
                found["labels"] = "|".join(prediction.labels)
            results[position] = found
    records = []
    for position, row in enumerate(window.rows):
        found = results.get(position) or {"status": "error", "error": window.errors[position]}
        record = {key: clean(value) for key, value in row.values.items()}
        record.update({names[key]: value for key, value in found.items()})
        records.append(record)
    return records


def _why_unscored(scorer: BatchScorer, i: int) -> str:
    """The scorer's own reason for text `i` of its last run (e.g. the LLM's reply), else a generic one."""
    explain = getattr(scorer, "why_unscored", None)
    return str(explain(i)) if callable(explain) else "the model's answer named no label"


def classify_rows(
    scorer: BatchScorer, rows: list[Row], spec: OutputSpec, names: dict[str, str], batch_size: int = 64
) -> list[dict[str, Any]]:
    """Both stages at once: what one worker (thread, process or Ray actor) does with one batch of rows."""
    return score(scorer, prepare(scorer, rows, spec), spec, names, batch_size)
