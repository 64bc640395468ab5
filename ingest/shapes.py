"""Fixed batch shapes for passage embedding, so a chunk's vector depends on its text alone.

A transformer's matmuls pick their kernels and summation order by the shape of the batch: MiniLM under bfloat16
autocast gives one text's vector up to 3.8e-4 apart (max |delta| of a coordinate) depending on how many texts
share its batch and how far the batch is padded, while the content of the other texts changes nothing. Before,
a re-run after kill -9 embedded only the texts the crash left behind, so the rest met other batch partners, and
top-5 searches came out different from a clean ingest's. Passages are therefore embedded in batches of one
fixed shape: texts grouped by a length bucket, each batch padded to the bucket's length and to `batch_size`
rows (copies of its first row, discarded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

BUCKET_TOKENS = 32  # padded lengths are multiples of this (capped at the window): at most 31 pad tokens a text
# Rows of a batch are capped so that rows x padded length stays within this: attention activations grow with
# the square of the length. e5-small, 300 SciFact abstracts: peak RSS 1.87 GB with 32 rows of 512 tokens, 1.64 GB
# capped at 8,192 tokens, 1.54 GB at 4,096. The cap depends on the bucket only, so shapes stay fixed.
BATCH_TOKENS = 4096


def rows_for(bucket: int, batch_size: int, batch_tokens: int = BATCH_TOKENS) -> int:
    """The rows of every batch of this bucket (its padded length in tokens)."""
    return max(1, min(batch_size, batch_tokens // max(bucket, 1)))


def bucket_length(tokens: int, window: int) -> int:
    """The padded length of a text of `tokens` tokens (special tokens included)."""
    return min(window, -(-max(tokens, 1) // BUCKET_TOKENS) * BUCKET_TOKENS)


def canonical_batches(
    lengths: Sequence[int], batch_size: int, bucket: Callable[[int], int], batch_tokens: int = BATCH_TOKENS
) -> list[tuple[int, list[int]]]:
    """(bucket, indices) batches: indices by length, never two buckets in one batch, at most
    `rows_for(bucket, batch_size, batch_tokens)` each."""
    order = sorted(range(len(lengths)), key=lambda i: (bucket(lengths[i]), lengths[i], i))
    batches: list[tuple[int, list[int]]] = []
    for index in order:
        key = bucket(lengths[index])
        if not batches or batches[-1][0] != key or len(batches[-1][1]) == rows_for(key, batch_size, batch_tokens):
            batches.append((key, []))
        batches[-1][1].append(index)
    return batches


def pad_features(features: dict[str, Any], rows: int, length: int, pad_id: int) -> dict[str, Any]:
    """Token tensors (n, len) padded on the right to (rows, length): pad ids and a zero mask in the new columns,
    copies of the first row in the new rows. Other entries pass through."""
    import torch

    out: dict[str, Any] = {}
    for key, value in features.items():
        if not (isinstance(value, torch.Tensor) and value.dim() == 2):
            out[key] = value
            continue
        n, width = value.shape
        fill = pad_id if key == "input_ids" else 0
        padded = torch.full((max(rows, n), max(length, width)), fill, dtype=value.dtype)
        padded[:n, :width] = value
        padded[n:] = padded[0]
        out[key] = padded
    return out
