"""Batches for in-batch-negative losses in which no text appears twice.

With in-batch negatives every other passage in the batch is a negative for a query. If the same text sits in a
batch twice (two rows with one positive, or one row's negative that is another's positive), the loss pushes a
query away from its own positive: a false negative. `distinct_batches` packs rows into batches of at most
`batch_size` rows whose texts are all different; a row goes into the first open batch it does not collide with.
Rows are shuffled first (seeded), so each epoch of a dataset of batches still sees varied company.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

ROLES = ("query", "positive", "negative")


def row_texts(row: dict[str, Any]) -> set[str]:
    return {row[role] for role in ROLES if row.get(role)}


def distinct_batches(rows: Sequence[dict[str, Any]], batch_size: int, seed: int) -> list[list[dict[str, Any]]]:
    """`rows` packed into batches of <= `batch_size` rows with no text twice in a batch (see the module doc)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = list(rows)
    random.Random(seed).shuffle(order)
    open_batches: list[tuple[list[dict[str, Any]], set[str]]] = []
    full: list[list[dict[str, Any]]] = []
    for row in order:
        texts = row_texts(row)
        target = next((b for b in open_batches if not (b[1] & texts)), None)
        if target is None:
            target = ([], set())
            open_batches.append(target)
        target[0].append(row)
        target[1].update(texts)
        if len(target[0]) == batch_size:
            open_batches.remove(target)
            full.append(target[0])
    return full + [batch for batch, _ in open_batches]
