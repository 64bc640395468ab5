"""Zero-shot scorers for when no fine-tuned model exists. Both fit the same `encode`/`run` batch contract as
`Classifier`, so files, top-k and thresholds work the same.

- `EmbeddingZeroShot` (fast): cosine similarity between the text and each label's description, both embedded
  with the knowledge-base embedder (default the shipped MiniLM). Scores are cosines in [-1, 1], not
  probabilities, so a `--threshold` is a similarity (around 0.3 is a sensible start for MiniLM).
- `LlmZeroShot` (slow): the `classify_zero_shot` prompt template and a generator. A local model picks a label
  by constrained choice (each label's likelihood as the reply; scores are probabilities); a server's reply is
  matched to a label (score 1.0), and a reply that names no label scores NaN, which the batch function
  reports as a bad row with the reply in its error column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmapp.errors import ConfigError

logger = logging.getLogger(__name__)

REPLY_CHARS = 200  # of a reply that named no label, kept in the row's error column
TEXT_CHARS = 600  # of each text in the prompt: enough to tell its class, and prompt reading is most of the time


@dataclass(frozen=True)
class LabelSpec:
    name: str
    description: str


def parse_labels(spec: str) -> list[LabelSpec]:
    """"billing,shipping", "billing=questions about invoices,shipping=where is my parcel" (或中文描述).

    When a description needs commas, separate the labels with ';' instead: "billing=invoices, refunds;shipping=...".
    """
    labels = []
    separator = r"[;；]" if re.search(r"[;；]", spec) else r"[,，]"
    for part in (p.strip() for p in re.split(separator, spec)):
        if not part:
            continue
        name, _, description = part.partition("=")
        labels.append(LabelSpec(name.strip(), description.strip() or name.strip()))
    names = [label.name for label in labels]
    if len(labels) < 2 or len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"--labels needs at least two distinct, non-empty labels separated by commas, got {spec!r}")
    return labels


class EmbeddingZeroShot:
    """Cosine similarity of each text to each label description."""

    multi_label = True  # similarities are independent, not a distribution over labels

    def __init__(self, embedder: Any, labels: Sequence[LabelSpec]) -> None:
        self.embedder = embedder
        self.labels = [label.name for label in labels]
        # e5-style models embed classification inputs and labels alike with their "query" prompt
        self.label_vectors = embedder.embed([label.description for label in labels], role="query")

    @classmethod
    def load(cls, labels: Sequence[LabelSpec], embedder: str | None = None) -> EmbeddingZeroShot:
        """With `ingest.embed.load_embedder(embedder)`: None is the shipped multilingual-e5-small."""
        from ingest.embed import load_embedder

        return cls(load_embedder(embedder), labels)

    def encode(self, texts: Sequence[str]) -> list[str]:
        return list(texts)  # the embedder tokenises inside `embed`

    def run(self, encoded: list[str], batch_size: int = 64) -> np.ndarray:
        vectors = self.embedder.embed(encoded, batch_size=batch_size, role="query")
        return np.asarray(vectors @ self.label_vectors.T, dtype=np.float32)

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.run(self.encode(texts), batch_size)


class LlmZeroShot:
    """One prompt per text with the `classify_zero_shot` template (in the text's language).

    With a local model (llamacpp, transformers) the label is a constrained choice: each label's likelihood as
    the reply, softmaxed into scores that sum to 1, so every row gets a label. Other generators (a server)
    write a reply that is matched to a label; a reply naming none scores NaN, and `why_unscored` keeps it for
    the row's error column.
    """

    multi_label = False

    def __init__(self, generator: Any, labels: Sequence[LabelSpec], prompts: Any = None) -> None:
        from llmapp.prompts import PromptLibrary

        self.generator = generator
        self.labels = [label.name for label in labels]
        self.descriptions = [label.description for label in labels]
        self.prompts = prompts or PromptLibrary()
        self._unmatched: dict[int, str] = {}

    def encode(self, texts: Sequence[str]) -> list[str]:
        return list(texts)

    def run(self, encoded: list[str], batch_size: int = 64) -> np.ndarray:
        self._unmatched = {}
        out = np.full((len(encoded), len(self.labels)), np.nan, dtype=np.float32)
        for row, text in enumerate(encoded):
            out[row] = self._score(row, text)
        return out

    def why_unscored(self, row: int) -> str:
        """Why row `row` of the last `run` has no scores: the model's reply, which named no label."""
        reply = " ".join(self._unmatched.get(row, "").split())
        return f"the model's answer named no label: {reply[:REPLY_CHARS]!r}"

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.run(self.encode(texts), batch_size)

    def _score(self, row: int, text: str) -> np.ndarray:
        from llmapp.generate.choices import choice_logprobs

        messages = self.prompts.for_text("classify_zero_shot", text).render(
            text=text[:TEXT_CHARS], labels=self.labels, descriptions=self.descriptions)
        likelihoods = choice_logprobs(self.generator, messages, self.labels)
        if likelihoods is not None:
            return _softmax(np.asarray(likelihoods, dtype=np.float64))
        reply = self.generator.generate(messages, max_tokens=16, temperature=0.0)
        found = match_label(reply, self.labels)
        scores = np.full(len(self.labels), np.nan, dtype=np.float32)
        if found is None:
            self._unmatched[row] = reply
            return scores
        scores[:] = 0.0
        scores[found] = 1.0
        return scores


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return (shifted / shifted.sum()).astype(np.float32)


def match_label(reply: str, labels: Sequence[str]) -> int | None:
    """The label a reply names: an exact match (case and punctuation aside), else the earliest one mentioned."""
    cleaned = reply.strip().strip(" .。!！\"'`*").casefold()
    lowered = [label.casefold() for label in labels]
    if cleaned in lowered:
        return lowered.index(cleaned)
    positions = [(cleaned.find(label), -len(label), i) for i, label in enumerate(lowered) if label in cleaned]
    return min(positions)[2] if positions else None
