"""Fixed batch shapes for passages: the grouping and the padding, and (slow) that a real model's passage vector
no longer depends on its batch partners."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ingest.shapes import BUCKET_TOKENS, bucket_length, canonical_batches, pad_features


def test_batches_never_mix_buckets_and_hold_at_most_batch_size() -> None:
    lengths = [5, 40, 33, 7, 64, 65, 2, 31, 32, 100]
    batches = canonical_batches(lengths, 3, lambda n: bucket_length(n, 96))
    assert sorted(i for _, batch in batches for i in batch) == list(range(len(lengths)))
    for padded, batch in batches:
        assert len(batch) <= 3
        assert all(bucket_length(lengths[i], 96) == padded >= min(lengths[i], 96) for i in batch)
    assert bucket_length(100, 96) == 96 and bucket_length(0, 512) == BUCKET_TOKENS


def test_padding_adds_pad_columns_and_copies_of_the_first_row() -> None:
    features = {"input_ids": torch.tensor([[101, 7, 102], [101, 102, 0]]),
                "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]), "note": "kept"}
    padded = pad_features(features, rows=4, length=5, pad_id=0)
    assert padded["input_ids"].tolist() == [[101, 7, 102, 0, 0], [101, 102, 0, 0, 0]] + [[101, 7, 102, 0, 0]] * 2
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]] + [[1, 1, 1, 0, 0]] * 2
    assert padded["note"] == "kept"


@pytest.mark.slow
def test_minilm_passage_vector_is_the_same_whatever_shares_its_batch() -> None:
    from ingest.embed import load_embedder

    embedder = load_embedder("minilm")
    texts = [f"Passage {i}: " + " ".join(["insulin resistance in obese adults"] * (i % 9 + 1)) for i in range(40)]
    alone = embedder.embed(texts[:1])[0]
    for partners in (texts[1:8], texts[5:40], texts[20:23]):
        assert np.array_equal(embedder.embed([texts[0], *partners])[0], alone)


def test_long_texts_go_in_fewer_rows_so_a_batch_stays_within_the_token_budget() -> None:
    from ingest.shapes import BATCH_TOKENS, canonical_batches, rows_for

    lengths = [500] * 40 + [20] * 40  # one bucket of 512 tokens, one of 32
    batches = canonical_batches(lengths, 32, lambda n: 512 if n > 256 else 32)
    long_rows = [len(ix) for bucket, ix in batches if bucket == 512]
    assert max(long_rows) == rows_for(512, 32) == BATCH_TOKENS // 512 and sum(long_rows) == 40
    assert [len(ix) for bucket, ix in batches if bucket == 32] == [32, 8]  # short texts keep the full batch
