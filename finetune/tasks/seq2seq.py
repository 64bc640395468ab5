"""`seq2seq`: T5-like encoder-decoder models (rewriting, extraction) on input/target pairs.

Trained with Seq2SeqTrainer; evaluation generates (greedy) and scores ROUGE-L and exact match, which is also
the metric for early stopping and for the final metrics.json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune import rundir, runs
from finetune.config import DataConfig, Job
from finetune.data import length_stats, text
from finetune.equivalence import check_merge
from finetune.errors import ModelLoadError
from finetune.lora import count_parameters, peft_config
from finetune.metrics import generation_metrics
from finetune.tasks.base import FeatureDataset, Prepared

logger = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class Pair:
    input: str
    target: str


def featurize(
    tokenizer: Any, pairs: list[Pair], max_length: int, max_target: int
) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    """Truncated features and the untruncated input and target lengths."""
    sources = tokenizer([p.input for p in pairs])["input_ids"]
    targets = tokenizer(text_target=[p.target for p in pairs])["input_ids"]
    features = []
    for source, target in zip(sources, targets, strict=True):
        ids = source[:max_length]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": target[:max_target]})
    return features, [len(s) for s in sources], [len(t) for t in targets]


class Seq2SeqTask:
    name = "seq2seq"

    def parser(self, data: DataConfig, labels: list[str] | None = None) -> Callable[[dict[str, Any]], Pair]:
        def parse(row: dict[str, Any]) -> Pair:
            return Pair(
                text(row.get(data.input_column), data.input_column),
                text(row.get(data.target_column), data.target_column),
            )

        return parse

    def labels(self, data: DataConfig, train: list[Pair]) -> list[str] | None:
        return None

    def prepare(self, job: Job, base: Path, train: list[Pair], validation: list[Pair]) -> Prepared:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq

        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSeq2SeqLM.from_pretrained(base)
        if job.lora is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config(job.lora, model.config, "SEQ_2_SEQ_LM"))
        trainable, total = count_parameters(model)
        t = job.train
        splits, lengths = [], {}
        for name, pairs in (("train", train), ("validation", validation)):
            features, sources, targets = featurize(tokenizer, pairs, t.max_length, t.max_target_length)
            splits.append(FeatureDataset(features))
            lengths[name] = length_stats(sources, t.max_length)
            lengths[f"{name}_targets"] = length_stats(targets, t.max_target_length)
        return Prepared(
            model=model,
            tokenizer=tokenizer,
            train=splits[0],
            validation=splits[1],
            collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE),
            metric="rougeL",
            greater_is_better=True,
            compute_metrics=_compute(tokenizer),
            seq2seq=True,
            lengths=lengths,
            probe=[p.input for p in validation[:8]],
            extra={"trainable": trainable, "total": total},
        )

    def save(self, prepared: Prepared, model: Any, run_dir: Path) -> None:
        model.save_pretrained(run_dir / (rundir.ADAPTER if hasattr(model, "peft_config") else rundir.MODEL))
        prepared.tokenizer.save_pretrained(run_dir / rundir.TOKENIZER)

    def load(self, run_dir: Path) -> Seq2SeqRun:
        return Seq2SeqRun(run_dir)


def _compute(tokenizer: Any) -> Callable[[Any], dict[str, float]]:
    def compute(prediction: Any) -> dict[str, float]:
        import numpy as np

        pad = tokenizer.pad_token_id
        generated = np.where(prediction.predictions == IGNORE, pad, prediction.predictions)
        references = np.where(prediction.label_ids == IGNORE, pad, prediction.label_ids)
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        gold = tokenizer.batch_decode(references, skip_special_tokens=True)
        scores = generation_metrics(texts, gold)
        return {"rougeL": scores["rougeL"], "exact_match": scores["exact_match"]}

    return compute


def load_seq2seq(run_dir: Path, merged: bool = False) -> tuple[Any, Any]:
    from transformers import AutoModelForSeq2SeqLM

    return runs.load_model(run_dir, AutoModelForSeq2SeqLM, merged), runs.load_tokenizer(run_dir)


class Seq2SeqRun:
    """A trained encoder-decoder: generate, evaluate (ROUGE-L, exact match), merged export."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.model, self.tokenizer = load_seq2seq(run_dir)
        job = rundir.read_json(run_dir / rundir.MANIFEST)["job"]["train"]
        self.max_length, self.max_target = int(job["max_length"]), int(job["max_target_length"])

    def generate(self, inputs: list[str], batch_size: int = 32) -> list[str]:
        import torch

        texts: list[str] = []
        for start in range(0, len(inputs), batch_size):
            batch = self.tokenizer(
                inputs[start : start + batch_size],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            with torch.no_grad():
                out = self.model.generate(**batch, max_new_tokens=self.max_target, do_sample=False)
            texts.extend(self.tokenizer.batch_decode(out, skip_special_tokens=True))
        return texts

    def evaluate(self, records: list[Pair]) -> dict[str, Any]:
        generated = self.generate([r.input for r in records])
        scores: dict[str, Any] = dict(generation_metrics(generated, [r.target for r in records]))
        scores["samples"] = [
            {"input": r.input, "reference": r.target, "generated": g}
            for r, g in zip(records[:3], generated[:3], strict=False)
        ]
        return scores

    def probe_logits(self, model: Any, probe: list[str]) -> Any:
        import torch

        batch = self.tokenizer(probe, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        start = model.config.decoder_start_token_id
        decoder = torch.cat([torch.full((len(probe), 1), start), batch["input_ids"][:, :7]], dim=1)
        with torch.no_grad():
            return model(**batch, decoder_input_ids=decoder).logits.float()

    def export(self, out: Path, probe: list[str]) -> dict[str, Any]:
        from transformers import AutoModelForSeq2SeqLM

        if not hasattr(self.model, "peft_config"):
            raise ModelLoadError(f"{self.run_dir} is a full fine-tune: its model/ folder is already merged")
        adapter_out = self.probe_logits(self.model, probe)
        with self.model.disable_adapter():
            base_out = self.probe_logits(self.model, probe)
        merged, _ = load_seq2seq(self.run_dir, merged=True)
        merged.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        reloaded = AutoModelForSeq2SeqLM.from_pretrained(out).eval()
        return check_merge(adapter_out, self.probe_logits(reloaded, probe), base_out)


TASK = Seq2SeqTask()
