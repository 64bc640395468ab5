"""`classification`: a sequence classifier (BERT-like encoder + new head) trained with LoRA or in full.

Labels come from the training data (strings or integers; integer-like labels sort numerically), the label map
goes to `labels.json` and the model config, and the new head (plus BERT's pooler) is trained in full and saved
with the adapter through PEFT's `modules_to_save`, so `PeftModel.from_pretrained` restores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune import rundir, runs
from finetune.config import DataConfig, Job
from finetune.data import BadRow, length_stats, text, unknown_share
from finetune.equivalence import check_merge
from finetune.errors import ModelLoadError
from finetune.lora import HEAD_MODULES, POOLER_MODULES, count_parameters, peft_config
from finetune.metrics import classification_metrics
from finetune.models import training_attention
from finetune.tasks.base import FeatureDataset, Prepared

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    text: str
    pair: str | None
    label: str


def normalise_label(value: Any) -> str:
    """1, 1.0 and "1" are the same label; strings are stripped."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def ordered_labels(found: set[str]) -> list[str]:
    """Integer-like labels in numeric order (so "0","1",...,"10" keep their ids), others sorted."""
    if all(label.lstrip("-").isdigit() for label in found):
        return sorted(found, key=int)
    return sorted(found)


def start_pooler_as_identity(model: Any, missing_keys: Any) -> bool:
    """A checkpoint without pooler weights (sentence-transformers models such as the shipped e5-small) gets a
    pooler that starts as tanh of the [CLS] state instead of a random projection of it, so the head learns from
    the encoder's own features from the first step. True when the pooler was missing and is now the identity."""
    import torch

    pooler = getattr(getattr(model, getattr(model, "base_model_prefix", ""), None), "pooler", None)
    dense = getattr(pooler, "dense", None)
    if not isinstance(dense, torch.nn.Linear) or dense.in_features != dense.out_features:
        return False
    if not any(".pooler." in f".{key}" for key in missing_keys):
        return False
    with torch.no_grad():
        torch.nn.init.eye_(dense.weight)
        torch.nn.init.zeros_(dense.bias)
    return True


def _module_names(model: Any, suffixes: tuple[str, ...]) -> list[str]:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [suffix for suffix in suffixes if suffix in names]


def tokenize(
    tokenizer: Any, examples: list[Example], max_length: int
) -> tuple[list[dict[str, Any]], list[int], float | None]:
    """Truncated features for training, the untruncated lengths and the [UNK] share (for the statistics)."""
    texts = [e.text for e in examples]
    pairs = [e.pair or "" for e in examples] if any(e.pair for e in examples) else None
    full = tokenizer(texts, pairs)
    cut = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    features = [{key: cut[key][i] for key in cut} for i in range(len(examples))]
    return features, [len(ids) for ids in full["input_ids"]], unknown_share(tokenizer, full["input_ids"])


class ClassificationTask:
    name = "classification"

    def parser(self, data: DataConfig, labels: list[str] | None = None) -> Callable[[dict[str, Any]], Example]:
        allowed = set(labels) if labels else None

        def parse(row: dict[str, Any]) -> Example:
            body = text(row.get(data.text_column), data.text_column)
            pair = text(row.get(data.text_pair_column), data.text_pair_column) if data.text_pair_column else None
            if row.get(data.label_column) is None or str(row.get(data.label_column)).strip() == "":
                raise BadRow(f"missing field '{data.label_column}'")
            label = normalise_label(row[data.label_column])
            if allowed is not None and label not in allowed:
                raise BadRow(f"unknown label {label!r}; known labels: {', '.join(sorted(allowed))}")
            return Example(body, pair, label)

        return parse

    def labels(self, data: DataConfig, train: list[Example]) -> list[str] | None:
        return data.labels or ordered_labels({e.label for e in train})

    def prepare(self, job: Job, base: Path, train: list[Example], validation: list[Example]) -> Prepared:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

        from finetune.training import use_bf16  # not at the top: finetune.training imports the tasks

        attention = training_attention(job.train.max_length, use_bf16(job.train.bf16))
        labels = job.data.labels or ordered_labels({e.label for e in train})
        label2id = {label: i for i, label in enumerate(labels)}
        tokenizer = AutoTokenizer.from_pretrained(base)
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id,
            output_loading_info=True, attn_implementation=attention,
        )
        if start_pooler_as_identity(model, loading.get("missing_keys", ())):
            logger.info("classification: %s has no trained pooler; it starts as the identity", base)
        if job.lora is not None:
            from peft import get_peft_model

            heads = _module_names(model, HEAD_MODULES) + _module_names(model, POOLER_MODULES)
            model = get_peft_model(model, peft_config(job.lora, model.config, "SEQ_CLS", heads))
        trainable, total = count_parameters(model)
        logger.info("classification: %d labels, %d/%d parameters trainable", len(labels), trainable, total)
        splits, lengths = [], {}
        for name, examples in (("train", train), ("validation", validation)):
            features, raw, unknown = tokenize(tokenizer, examples, job.train.max_length)
            for feature, example in zip(features, examples, strict=True):
                feature["labels"] = label2id[example.label]
            splits.append(FeatureDataset(features))
            lengths[name] = {**length_stats(raw, job.train.max_length), "unknown_token_share": unknown}
        return Prepared(
            model=model,
            tokenizer=tokenizer,
            train=splits[0],
            validation=splits[1],
            collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=None),
            metric="accuracy",
            greater_is_better=True,
            compute_metrics=_compute(labels),
            preprocess_logits=_argmax,
            lengths=lengths,
            probe=[e.text for e in validation[:8]],
            extra={"labels": labels, "trainable": trainable, "total": total},
        )

    def save(self, prepared: Prepared, model: Any, run_dir: Path) -> None:
        folder = rundir.ADAPTER if _is_peft(model) else rundir.MODEL
        model.save_pretrained(run_dir / folder)
        prepared.tokenizer.save_pretrained(run_dir / rundir.TOKENIZER)
        labels = prepared.extra["labels"]
        rundir.write_json(
            run_dir / rundir.LABELS,
            {"labels": labels, "label2id": {label: i for i, label in enumerate(labels)}},
        )

    def load(self, run_dir: Path) -> ClassificationRun:
        return ClassificationRun(run_dir)


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")


def _argmax(logits: Any, labels: Any) -> Any:
    return (logits[0] if isinstance(logits, tuple) else logits).argmax(dim=-1)


def _compute(labels: list[str]) -> Callable[[Any], dict[str, float]]:
    def compute(prediction: Any) -> dict[str, float]:
        result = classification_metrics(list(prediction.label_ids), list(prediction.predictions), labels)
        return {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"]}

    return compute


def load_classifier(run_dir: Path, merged: bool = False) -> tuple[Any, Any, list[str]]:
    """(model, tokenizer, labels) of a classification run: base model + head + adapter, in eval mode.

    `merged=True` folds the adapter into the weights (what `export --merge` saves).
    """
    from transformers import AutoModelForSequenceClassification

    labels = runs.read_labels(run_dir)
    model = runs.load_model(run_dir, AutoModelForSequenceClassification, merged, num_labels=len(labels),
                            id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    return model, runs.load_tokenizer(run_dir), labels


class ClassificationRun:
    """A trained classifier: predict labels, evaluate on records, export a merged model."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.model, self.tokenizer, self.labels = load_classifier(run_dir)
        self.max_length = int(runs.RunManifest.read(run_dir).train_setting("max_length"))

    def logits(self, texts: list[str], pairs: list[str] | None = None, model: Any = None, batch_size: int = 64) -> Any:
        import torch

        model = model or self.model
        outputs = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size],
                pairs[start : start + batch_size] if pairs else None,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            with torch.no_grad():
                outputs.append(model(**batch).logits.float())
        return torch.cat(outputs)

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list[str]:
        return [self.labels[i] for i in self.logits(texts, pairs).argmax(dim=-1).tolist()]

    def evaluate(self, records: list[Example]) -> dict[str, Any]:
        pairs = [e.pair or "" for e in records] if any(e.pair for e in records) else None
        predicted = self.logits([e.text for e in records], pairs).argmax(dim=-1).tolist()
        index = {label: i for i, label in enumerate(self.labels)}
        return classification_metrics([index[e.label] for e in records], predicted, self.labels)

    def export(self, out: Path, probe: list[str]) -> dict[str, Any]:
        from transformers import AutoModelForSequenceClassification

        if not _is_peft(self.model):
            raise ModelLoadError(f"{self.run_dir} is a full fine-tune: its model/ folder is already merged")
        adapter_out = self.logits(probe)
        with self.model.disable_adapter():
            base_out = self.logits(probe)
        merged, _, _ = load_classifier(self.run_dir, merged=True)
        merged.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        reloaded = AutoModelForSequenceClassification.from_pretrained(out).eval()
        return check_merge(adapter_out, self.logits(probe, model=reloaded), base_out)


TASK = ClassificationTask()
