"""`train.distributed: fsdp`: the `--nproc N` processes shard the model instead of each holding a full copy.

DDP (the default) keeps the whole model, its gradients and its optimizer state on every device; FSDP (PyTorch's
FSDP2, `fully_shard`, through the Trainer and accelerate) keeps 1/N of each per device and gathers a layer's
weights only while that layer runs. LoRA works with FSDP2 as is: frozen and trainable weights are sharded per
parameter, so FSDP1's `use_orig_params` does not apply.

Where it runs: accelerate 1.15 shards only on GPU-class devices (CUDA, XPU, NPU, HPU, ...). On CPU it drops the
FSDP plugin without a word and trains with plain DDP (accelerate/state.py enables FSDP only for the MULTI_GPU
family of distributed types), so a CPU run is refused here rather than silently being a DDP run. PyTorch's FSDP2
itself runs on CPU with gloo: tests/finetune/test_fsdp.py lifts that one gate in its ranks and runs the Trainer's
real FSDP2 path there (metrics of a 1-process run, resume after kill -9 of a rank, export of the result).

Two limits of accelerate's FSDP2 handled here, on any device: `shard_units` (BERT-family models) and no
`evaluate()` before training (finetune/training.py).

Saving: the Trainer's checkpoints are gathered full state dicts (FULL_STATE_DICT, one file on rank 0), so
`--resume` reads them like DDP ones. The result folder is written from the full weights gathered from the shards
(`gathered_model`, a collective every rank joins), so adapter/ and model/ are the ordinary PEFT / Transformers
folders that eval and export read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune.config import Job
from finetune.errors import JobConfigError


def is_fsdp(job: Job) -> bool:
    return job.train.distributed == "fsdp"


def fsdp_options(job: Job, model: Any) -> dict[str, Any]:
    """The TrainingArguments that turn FSDP2 on for `model` (transformers 5: `fsdp=True` plus `fsdp_config`)."""
    config: dict[str, Any] = {
        "version": 2,
        "reshard_after_forward": True,  # full shard: weights are gathered per layer for forward and backward
        "state_dict_type": "FULL_STATE_DICT",  # one gathered file per checkpoint, not a file per rank
        # FSDP's own activation checkpointing: the Trainer's would all-gather each layer once more in backward
        "activation_checkpointing": job.train.gradient_checkpointing,
    }
    layers = shard_units(model)
    if layers is not None:
        config["transformer_layer_cls_to_wrap"] = layers
    return {"fsdp": True, "fsdp_config": config, "activation_checkpointing": False}


def shard_units(model: Any) -> list[str] | None:
    """The model's own shard units (its `_no_split_modules`) less any that holds the input embeddings; None when
    none does. accelerate 1.15 shards the input embeddings as a unit of their own after the layers and fails
    (`Invariant encountered: value was None`) when a unit already holds them, as `BertEmbeddings` does in every
    BERT-family model (MiniLM included); a Llama's units are its decoder layers only and are kept as they are."""
    names = list(getattr(model, "_no_split_modules", None) or [])
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    path = next((name for name, module in model.named_modules() if module is embeddings), None)
    if not names or path is None:
        return None
    holders = {type(module).__name__ for name, module in model.named_modules() if path.startswith(f"{name}.")}
    kept = [name for name in names if name not in holders]
    return kept if kept != names else None


def check_processes(job: Job, processes: int) -> None:
    """FSDP on one process shards nothing: refused, so a model that needs sharding never runs unsharded."""
    if is_fsdp(job) and processes < 2:
        raise JobConfigError(
            f"train.distributed: fsdp shards the model over several processes, but this run has {processes}; "
            "run it with --nproc N (N >= 2, one process per GPU), or set train.distributed: ddp"
        )


def _device_type() -> str | None:
    import torch

    device = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    return device.type if device is not None else None


def check_device(job: Job) -> None:
    """Refuses FSDP where accelerate would quietly train with DDP instead (CPU, and Apple's MPS)."""
    if not is_fsdp(job):
        return
    device = _device_type()
    if device in (None, "mps"):
        raise JobConfigError(
            f"train.distributed: fsdp needs GPUs (found {device or 'no accelerator, only the CPU'}): accelerate "
            "shards the model only on GPU-class devices and would train an unsharded DDP copy per process here; "
            "set train.distributed: ddp to train on CPU processes"
        )


def check_sharded(job: Job, trainer: Any) -> None:
    """The Trainer really shards (a rank started by hand with torchrun skips the launcher's checks)."""
    if is_fsdp(job) and not trainer.is_fsdp_enabled:
        raise JobConfigError(
            "train.distributed: fsdp, but accelerate did not enable FSDP for this run (it does so only on "
            "GPU-class devices, one process per device); set train.distributed: ddp to train on CPU processes"
        )


def full_state_dict(model: Any) -> dict[str, Any]:
    """The model's full weights gathered from the shards onto rank 0's CPU ({} on the other ranks).

    A collective: every rank must call it, in the same order."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


class Gathered:
    """A sharded model for the task's `save`: `save_pretrained` writes the gathered full weights, so the folder
    is the ordinary one a 1-process run writes; every other attribute is the model's own."""

    def __init__(self, model: Any, state: dict[str, Any]) -> None:
        self.model = model
        self.state = state

    def save_pretrained(self, folder: Path, **kwargs: Any) -> None:
        self.model.save_pretrained(folder, state_dict=self.state, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def gathered_model(job: Job, trainer: Any) -> Any:
    """The trained model to save: under FSDP the gathered full weights (every rank must call this), else the
    unwrapped model itself."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    return Gathered(model, full_state_dict(trainer.model)) if is_fsdp(job) else model
