"""`Classifier`: a sequence-classification model (plain folder or fine-tuning run) scoring texts fast on CPU.

Speed comes from padding as little as possible: each window of texts is tokenised once without padding,
sorted by token length, cut into batches of similar lengths and padded per batch with numpy. Tokenising the
next window runs in a thread while the model works on the current one (`overlap.prefetch`), under
`torch.inference_mode`. Scores come back in the order of the input texts.

`scores(texts)` is a pure function of a list of texts, so a Ray Data actor (`map_batches`) can hold one
`Classifier` and call the same method the single-machine loop calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmapp.classify.overlap import prefetch
from llmapp.classify.predictions import Prediction, to_predictions
from llmapp.errors import ConfigError, ModelError, NotFoundError

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 2048  # texts sorted together; larger pads less, holds more token ids in memory


@dataclass(frozen=True)
class Encoded:
    """One window of tokenised texts: token ids in input order and the order that sorts them by length."""

    ids: list[list[int]]
    order: np.ndarray


def is_run_folder(path: Path) -> bool:
    """A `finetune` classification run folder (as opposed to a plain transformers model folder)."""
    from finetune import rundir, runs

    return runs.is_run_folder(path) and (path / rundir.LABELS).is_file()


def _load_run(path: Path) -> tuple[Any, Any, list[str], int | None]:
    from finetune.runs import RunManifest
    from finetune.tasks.classification import load_classifier

    # merged: the LoRA deltas are folded into the weights, so inference runs a plain model at full speed
    model, tokenizer, labels = load_classifier(path, merged=True)
    max_length = RunManifest.read(path).train_setting("max_length")
    return model, tokenizer, labels, int(max_length) if max_length else None


def _load_folder(path: Path) -> tuple[Any, Any, list[str], int | None]:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    if not (path / "config.json").is_file():
        raise ModelError(
            f"{path} has neither config.json (a transformers model folder) nor manifest.json + labels.json "
            "(a finetune run folder); point --model at one of those"
        )
    config = AutoConfig.from_pretrained(path)
    if not getattr(config, "id2label", None):
        raise ModelError(f"{path}/config.json has no id2label: is it a sequence-classification model?")
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    labels = [str(config.id2label[i]) for i in range(len(config.id2label))]
    return model, AutoTokenizer.from_pretrained(path), labels, None


def set_threads(threads: int | None) -> None:
    """`threads`, or the CPUs this process may actually use (torch counts the whole machine in a container)."""
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(threads or max(1, min(torch.get_num_threads(), usable)))


class Classifier:
    """A loaded sequence classifier. Build it with `Classifier.from_pretrained(path)`."""

    def __init__(
        self, model: Any, tokenizer: Any, labels: list[str], max_length: int | None = None, device: str = "cpu"
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.device = device
        self.multi_label = getattr(model.config, "problem_type", None) == "multi_label_classification"
        positions = getattr(model.config, "max_position_embeddings", None) or 512
        self.max_length = min(max_length or positions, positions, tokenizer.model_max_length or positions)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.int8 = False
        self.bf16 = False

    @classmethod
    def from_pretrained(
        cls, path: str | Path, int8: bool = False, device: str | None = None, threads: int | None = None
    ) -> Classifier:
        """A plain HF sequence-classification folder or a `finetune` classification run folder."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise NotFoundError(f"model folder {folder} does not exist")
        set_threads(threads)
        model, tokenizer, labels, max_length = _load_run(folder) if is_run_folder(folder) else _load_folder(folder)
        if len(labels) != model.config.num_labels:
            raise ModelError(f"{folder}: {len(labels)} labels but the model has {model.config.num_labels} outputs")
        device = device or "cpu"
        classifier = cls(model.to(device).eval(), tokenizer, labels, max_length, device)
        logger.info("classifier %s: %d labels, max_length %d", folder, len(labels), classifier.max_length)
        return classifier.quantized() if int8 else classifier

    def quantized(self, calibration: Sequence[str] = ()) -> Classifier:
        """The same classifier with int8 dynamic quantisation of its encoder's Linear layers (CPU only).

        Give a few hundred typical texts as `calibration` and every encoder layer is quantised behind
        per-channel smoothing scales measured on them (faster and more faithful); without, the outlier-prone
        FFN input projections stay float32. See `llmcommon.int8`.
        """
        from llmcommon.int8 import calibration_maxima, quantize_int8

        if self.device != "cpu":
            raise ConfigError(f"int8 dynamic quantisation runs on the CPU only, not on {self.device}")
        maxima = calibration_maxima(self.model, lambda: self.scores(calibration)) if calibration else None
        twin = Classifier(quantize_int8(self.model, maxima), self.tokenizer, self.labels, self.max_length, self.device)
        twin.int8 = True
        return twin

    def bfloat16(self) -> Classifier:
        """The same weights run under bfloat16 autocast: on a CPU with AMX about 2.7-2.9x the float32 rows/s at
        99.8-99.95% label agreement (MiniLM, SST-2); slower than float32 where bf16 matmuls are (no bf16
        instructions, or avx512_bf16 alone on some CPUs: see `llmcommon.cpu.cpu_prefers_bf16`)."""
        from llmcommon.cpu import bf16_matmul_speedup, cpu_has_bf16, cpu_prefers_bf16

        if self.device == "cpu" and not cpu_prefers_bf16():
            reason = (f"a bfloat16 matmul measured {bf16_matmul_speedup():.2f}x the float32 speed on this CPU"
                      if cpu_has_bf16() else "this CPU has no bfloat16 instructions")
            logger.warning("%s: --bf16 will be slower than float32 here", reason)
        twin = Classifier(self.model, self.tokenizer, self.labels, self.max_length, self.device)
        twin.bf16 = True
        return twin

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Token ids (truncated to `max_length`) and the longest-first order that batches them tightly."""
        ids = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length,
            return_attention_mask=False, return_token_type_ids=False,
        )["input_ids"]
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        # longest first: the biggest batch's memory is claimed at once, not after the others
        return Encoded(ids=ids, order=np.argsort(-lengths, kind="stable"))

    def run(self, encoded: Encoded, batch_size: int = 64) -> np.ndarray:
        """Scores (len(texts), len(labels)) in input order: softmax, or sigmoid for multi-label models."""
        import torch

        out = np.empty((len(encoded.ids), len(self.labels)), dtype=np.float32)
        device_type = torch.device(self.device).type
        with torch.inference_mode(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16):
            for start in range(0, len(encoded.order), batch_size):
                rows = encoded.order[start : start + batch_size]
                ids, mask = self._pad([encoded.ids[i] for i in rows])
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits.float(), dim=-1)
                out[rows] = probs.float().cpu().numpy()
        return out

    def _pad(self, rows: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(row) for row in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def scores(self, texts: Sequence[str], batch_size: int = 64, window: int = DEFAULT_WINDOW) -> np.ndarray:
        """Scores for any number of texts, `window` at a time, tokenising the next window in a thread."""
        if not texts:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        windows = (texts[start : start + window] for start in range(0, len(texts), window))
        return np.concatenate([self.run(enc, batch_size) for enc in self.encode_ahead(windows)])

    def encode_ahead(self, windows: Iterator[Sequence[str]]) -> Iterator[Encoded]:
        return prefetch(self.encode(w) for w in windows)

    def predict(
        self, texts: Sequence[str], batch_size: int = 64, top_k: int = 1, threshold: float | None = None
    ) -> list[Prediction]:
        """Label and score per text (plus the top k, or every label >= threshold), in input order."""
        return to_predictions(self.scores(texts, batch_size), self.labels, top_k, threshold)


def agreement(first: Classifier, second: Classifier, texts: Sequence[str], batch_size: int = 64) -> float:
    """Share of `texts` on which both classifiers pick the same label (e.g. int8 against fp32)."""
    if not texts:
        return 1.0
    a = first.scores(texts, batch_size).argmax(axis=1)
    b = second.scores(texts, batch_size).argmax(axis=1)
    return float((a == b).mean())
