"""The task contract. Each task module (classification, seq2seq, causal, embedding) provides one object with:

- `parse(data) -> row parser`: turns a raw row into a record or raises `BadRow`;
- `prepare(job, base, train, validation) -> Prepared`: model (LoRA-wrapped or full), tokenizer, tokenised
  features, collator and metric settings for the shared HF Trainer loop in `finetune.training`;
- `save(prepared, model, run_dir)`: writes `adapter/` (or `model/`), `tokenizer/` and task files;
- `load(run_dir) -> LoadedRun`: the saved run, ready to evaluate, predict and export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from finetune.config import DataConfig, Job


class FeatureDataset:
    """A list of tokenised examples as a map-style dataset (what HF Trainer and its samplers expect)."""

    def __init__(self, features: list[Any]) -> None:
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> Any:
        return self.features[index]


@dataclass
class Prepared:
    """Everything the shared training loop needs from a task."""

    model: Any
    tokenizer: Any
    train: FeatureDataset
    validation: FeatureDataset
    collator: Callable[[list[Any]], Any]
    metric: str  # name in the Trainer's eval logs without the "eval_" prefix, e.g. "accuracy", "loss"
    greater_is_better: bool
    compute_metrics: Callable[[Any], dict[str, float]] | None = None
    preprocess_logits: Callable[[Any, Any], Any] | None = None
    seq2seq: bool = False  # use Seq2SeqTrainer with generation-based evaluation
    lengths: dict[str, Any] = field(default_factory=dict)  # token-length statistics per split
    probe: list[Any] = field(default_factory=list)  # a few validation inputs for the export's merge check
    extra: dict[str, Any] = field(default_factory=dict)  # task state for save(), e.g. the label map


class LoadedRun(Protocol):
    """A finished run folder, loaded for evaluation and prediction."""

    run_dir: Path

    def evaluate(self, records: list[Any]) -> dict[str, Any]:
        """The task's metrics on parsed records (the same keys as metrics.json)."""
        ...

    def export(self, out: Path, probe: list[Any]) -> dict[str, Any]:
        """Writes a merged standalone model to `out` and returns the equivalence check on `probe` inputs."""
        ...


class Task(Protocol):
    name: str

    def parser(self, data: DataConfig, labels: list[str] | None = None) -> Callable[[dict[str, Any]], Any]:
        """A row parser for this task's data format (`labels`: the allowed labels, if known)."""
        ...

    def labels(self, data: DataConfig, train: list[Any]) -> list[str] | None:
        """The label set learnt from the training records (classification), or None."""
        ...

    def prepare(self, job: Job, base: Path, train: list[Any], validation: list[Any]) -> Prepared: ...

    def save(self, prepared: Prepared, model: Any, run_dir: Path) -> None: ...

    def load(self, run_dir: Path) -> LoadedRun: ...
