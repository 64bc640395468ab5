"""Optional cross-encoder reranking from a local folder (a transformers sequence-classification model).

The reranker scores each (query, passage) pair; the score reported is the sigmoid of the relevance logit
(or of logit[1] - logit[0] for a two-class head), so reranked scores stay in [0, 1], higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmapp.errors import ModelError
from llmcommon.quiet import quiet_loading


class CrossEncoderReranker:
    """A local cross-encoder folder (config.json, weights, tokenizer). Loaded on first use."""

    def __init__(self, path: str | Path, device: str | None = None, batch_size: int = 16,
                 max_length: int = 512) -> None:
        self.path = Path(path).expanduser()
        if not (self.path / "config.json").is_file():
            raise ModelError(f"{self.path} is not a cross-encoder folder (no config.json); "
                             "point --rerank at a local transformers sequence-classification model")
        self.device = device or "cpu"
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            with quiet_loading():
                model = AutoModelForSequenceClassification.from_pretrained(str(self.path), local_files_only=True)
            self._model = model.to(self.device).eval()
        return self._model, self._tokenizer

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        import torch

        model, tokenizer = self._load()
        out: list[float] = []
        for begin in range(0, len(passages), self.batch_size):
            batch = list(passages[begin : begin + self.batch_size])
            encoded = tokenizer([query] * len(batch), batch, truncation=True, max_length=self.max_length,
                                padding=True, return_tensors="pt").to(self.device)
            with torch.no_grad():
                logits = model(**encoded).logits.float()
            relevance = logits[:, 0] if logits.shape[1] == 1 else logits[:, -1] - logits[:, 0]
            out += torch.sigmoid(relevance).tolist()
        return out
