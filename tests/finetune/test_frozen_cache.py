"""lora.cache_frozen: the frozen layers' output is computed once per text, training is unchanged by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune import rundir
from finetune.config import parse_job
from finetune.errors import JobConfigError
from finetune.frozen_cache import backbone_of, frozen_layer_cache
from finetune.runner import run_job
from tests.support.finetune_data import job_dict


def _classifier(base: Path, layers_adapted: int = 1) -> Any:
    from peft import get_peft_model
    from transformers import AutoModelForSequenceClassification

    from finetune.config import LoraSettings
    from finetune.lora import peft_config

    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    settings = LoraSettings(top_layers=layers_adapted)
    return get_peft_model(model, peft_config(settings, model.config, "SEQ_CLS", ["classifier", "pooler"]))


def test_cached_rows_give_the_computed_output_at_any_padding_and_the_model_is_restored(tiny_bert: Path) -> None:
    import torch

    model = _classifier(tiny_bert).eval()
    layers = list(backbone_of(model).encoder.layer)
    embedding_dropout = backbone_of(model).embeddings.dropout
    short = {"input_ids": torch.tensor([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]]),
             "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])}
    # the second text again, padded further and in another batch: the cache must place it at its real positions
    padded = {"input_ids": torch.tensor([[2, 8, 9, 3, 0, 0, 0]]),
              "attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0, 0]])}
    with torch.no_grad():
        plain = model(**short).logits, model(**padded).logits
        with frozen_layer_cache(model, first_adapted=1) as cache:
            assert embedding_dropout.p == 0.0
            computed = model(**short).logits
            assert (cache.rows, cache.hits, cache.misses) == (2, 0, 1)
            again = model(**short).logits, model(**padded).logits
            assert (cache.hits, cache.misses) == (2, 1)  # both batches read from the cache
            assert cache.nbytes == (5 + 4) * 32 * 4  # real tokens x hidden size x float32
    torch.testing.assert_close(computed, plain[0])
    torch.testing.assert_close(again[0], plain[0])
    torch.testing.assert_close(again[1], plain[1], atol=1e-5, rtol=1e-5)
    assert list(backbone_of(model).encoder.layer) == layers  # the same modules in the same places
    assert embedding_dropout.p == 0.1


def test_a_training_with_the_cache_matches_one_without(
    steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    def run(cache: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        out = tmp_path / f"run-{cache}"
        raw = job_dict("classification", steady_bert, *sentiment_files, out, epochs=3)
        raw["lora"].update(top_layers=1, cache_frozen=cache)
        result = run_job(parse_job(raw, tmp_path))
        return result.training, json.loads((out / rundir.METRICS).read_text())

    (plain, plain_metrics), (cached, cached_metrics) = run(False), run(True)
    assert "frozen_cache" not in plain
    held = cached["frozen_cache"]
    assert held["texts"] > 0 and held["batches_from_cache"] > held["batches_computed"] > 0
    assert cached["train_loss"] == pytest.approx(plain["train_loss"], rel=1e-3)
    # the run folder holds the plain model's adapter: reloaded, it measures the same
    assert cached_metrics["accuracy"] == plain_metrics["accuracy"]
    assert cached_metrics["confusion_matrix"] == plain_metrics["confusion_matrix"]


def test_cache_frozen_needs_top_layers_and_a_classification_encoder(
    tiny_bert: Path, tiny_llama: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw = job_dict("classification", tiny_bert, *sentiment_files, tmp_path / "run")
    raw["lora"].update(cache_frozen=True)
    with pytest.raises(JobConfigError, match="cache_frozen needs lora.top_layers"):
        parse_job(raw, tmp_path)
    raw["lora"].update(top_layers=1)
    raw["task"] = "causal"
    with pytest.raises(JobConfigError, match="cache_frozen works for task: classification"):
        parse_job(raw, tmp_path)
    from transformers import AutoModelForSequenceClassification

    llama = AutoModelForSequenceClassification.from_pretrained(tiny_llama, num_labels=2)
    with pytest.raises(JobConfigError, match="BERT-style encoders"):
        backbone_of(llama)
