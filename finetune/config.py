"""The job: one validated YAML file describing base model, task, data, LoRA and training settings.

Every section rejects unknown keys and the error lists the keys that are allowed, so a typo such as
`learning_rat` fails before anything is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finetune.errors import JobConfigError

TaskName = Literal["classification", "seq2seq", "causal", "embedding"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Data files and column names. Columns a task does not use are ignored."""

    train: Path
    validation: Path | None = None
    validation_split: float = Field(0.1, gt=0.0, lt=0.9)
    max_bad_fraction: float = Field(0.05, ge=0.0, le=1.0)
    # classification
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    labels: list[str] | None = None
    # seq2seq
    input_column: str = "input"
    target_column: str = "target"
    # causal: `messages`, or prompt/response, or alpaca instruction/input/output
    messages_column: str = "messages"
    prompt_column: str = "prompt"
    response_column: str = "response"
    system_prompt: str | None = None
    # embedding
    query_column: str = "query"
    positive_column: str = "positive"
    negative_column: str = "negative"


class LoraSettings(_Section):
    """LoRA adapter settings; `target_modules: auto` picks the modules for the architecture."""

    r: int = Field(8, ge=1, le=1024)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Literal["auto", "all-linear"] | list[str] = "auto"
    # Adapt only the top N transformer layers: the layers below stay frozen and backpropagation stops under the
    # lowest adapted one, so a step is faster (e5-small, 12 layers: 1.5x with 6, 2x with 4). None: every layer.
    top_layers: int | None = Field(None, ge=1)
    # with top_layers: compute the frozen layers' output once per text and reuse it in later epochs, so a step
    # after the first epoch runs the top layers only (finetune/frozen_cache.py; classification; dropout off below)
    cache_frozen: bool = False


class TrainSettings(_Section):
    """Optimisation, evaluation and checkpoint settings (HF Trainer underneath)."""

    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    learning_rate: float = Field(2.0e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    max_length: int = Field(128, ge=8)
    max_target_length: int = Field(64, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    seed: int = 42
    eval_steps: int | None = Field(None, ge=1)
    save_steps: int | None = Field(None, ge=1)
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(10, ge=1)
    early_stopping_patience: int | None = Field(None, ge=1)
    group_by_length: bool = True
    gradient_checkpointing: bool = False
    # embedding task: embed in mini-batches of this many texts with cached gradients (GradCache). The loss
    # still sees the whole batch's in-batch negatives; memory is a mini-batch's, for ~25% more compute.
    mini_batch_size: int | None = Field(None, ge=1)
    # every dropout layer of the checkpoint (not LoRA's own, see lora.dropout) set to this while training; None
    # keeps the checkpoint's. 0 is faster on a CPU, where the masks (drawn, and replayed by GradCache) cost 40% of
    # an e5-small tuning step and their memory goes too: 30 s -> 18 s a step, peak 3.5 -> 2.2 GB (batch of 32).
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    bf16: Literal["auto"] | bool = "auto"
    # how --nproc N processes share the work: ddp keeps a full model copy per process, fsdp shards the weights,
    # gradients and optimizer state over them (for a model that does not fit one device); see docs/scale.md
    distributed: Literal["ddp", "fsdp"] = "ddp"
    full_finetune_max_params: int = Field(400_000_000, ge=1)


class Job(_Section):
    """A whole fine-tuning job. Relative paths are resolved against the YAML file's folder."""

    task: TaskName
    base_model: str
    data: DataConfig
    lora: LoraSettings | None = Field(default_factory=lambda: LoraSettings.model_validate({}))
    train: TrainSettings = Field(default_factory=lambda: TrainSettings.model_validate({}))
    output_dir: Path

    @field_validator("base_model")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("base_model is empty: give a shipped alias (minilm, smollm2) or a model folder")
        return value

    @model_validator(mode="after")
    def _check_steps(self) -> Job:
        steps = self.train
        if steps.early_stopping_patience and steps.eval_steps is None:
            raise ValueError("train.early_stopping_patience needs train.eval_steps (evaluate every N steps)")
        if self.lora is not None and self.lora.cache_frozen:
            if self.lora.top_layers is None:
                raise ValueError("lora.cache_frozen needs lora.top_layers (the layers below them are what is cached)")
            if self.task != "classification" or steps.distributed == "fsdp":
                raise ValueError("lora.cache_frozen works for task: classification without fsdp; remove it here")
        if steps.distributed == "fsdp" and self.task == "embedding":
            raise ValueError(
                "train.distributed: fsdp is not available for the embedding task (its sentence-transformers "
                "model is trained with cached gradients and merged in one piece when saved); use ddp"
            )
        return self


_SECTIONS: dict[str, type[BaseModel]] = {
    "": Job,
    "data": DataConfig,
    "lora": LoraSettings,
    "train": TrainSettings,
}


def _explain(error: ValidationError, source: str) -> str:
    lines = [f"invalid job {source}:"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            section = str(item["loc"][0]) if len(item["loc"]) > 1 else ""
            allowed = ", ".join(_SECTIONS.get(section, Job).model_fields)
            scope = f"in '{section}'" if section else "at the top level"
            lines.append(f"  unknown key '{where}'; allowed {scope}: {allowed}")
        else:
            lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def _resolve(job: Job, root: Path) -> Job:
    def absolute(path: Path | None) -> Path | None:
        path = path.expanduser() if path is not None else None  # "~/data/x.tsv": a place outside any checkout
        return None if path is None else (path if path.is_absolute() else (root / path).resolve())

    data = job.data.model_copy(update={"train": absolute(job.data.train), "validation": absolute(job.data.validation)})
    base = job.base_model
    if not Path(base).is_absolute() and (root / base).exists():
        base = str((root / base).resolve())
    return job.model_copy(update={"data": data, "output_dir": absolute(job.output_dir), "base_model": base})


def parse_job(raw: dict[str, Any], root: Path, source: str = "") -> Job:
    """Validates a job mapping; relative paths are taken relative to `root`."""
    try:
        job = Job.model_validate(raw)
    except ValidationError as exc:
        raise JobConfigError(_explain(exc, source)) from None
    return _resolve(job, root)


def load_job(path: Path) -> Job:
    """Reads and validates a job YAML file."""
    if not path.is_file():
        raise JobConfigError(f"job file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise JobConfigError(f"job file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise JobConfigError(f"job file {path} must be a mapping with task, base_model, data, output_dir")
    return parse_job(raw, path.parent.resolve(), str(path))


def job_as_dict(job: Job) -> dict[str, Any]:
    """The job as plain JSON-able data (recorded in the run's manifest)."""
    return job.model_dump(mode="json")
