"""The shared training loop: HF Trainer (Seq2SeqTrainer for seq2seq) configured from the job, with progress
lines, train_log.jsonl and TensorBoard events written as training goes, and resume from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finetune import rundir
from finetune.config import Job
from finetune.errors import RunFolderError
from finetune.frozen_cache import FrozenLayerCache, backbone_of, frozen_layer_cache
from finetune.fsdp import check_sharded, fsdp_options, is_fsdp
from finetune.launch import per_device_batch, world_size
from finetune.lora import layer_count
from finetune.tasks.base import Prepared
from llmcommon.cpu import cpu_prefers_bf16
from llmcommon.heap import release_free_memory

logger = logging.getLogger(__name__)
progress_logger = logging.getLogger("finetune.progress")


def is_main_process() -> bool:
    """Rank 0 under torchrun / accelerate launch, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def use_bf16(setting: str | bool) -> bool:
    """bf16 mixed precision: "auto" turns it on for CUDA devices that support it and for CPUs where a bfloat16
    matmul was measured faster than float32 (`cpu_prefers_bf16`: with AMX a SmolLM2 LoRA step ran 1.7x faster;
    with avx512_bf16 alone an e5-small step took 1.6-1.9x as long as float32); weights stay float32."""
    import torch

    if setting != "auto":
        return bool(setting)
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_prefers_bf16()


def _accelerator() -> bool:
    import torch

    return bool(torch.cuda.is_available() or torch.backends.mps.is_available())


def training_arguments(job: Job, prepared: Prepared, run_dir: Path) -> Any:
    """TrainingArguments (Seq2SeqTrainingArguments for seq2seq) from the job's `train` section."""
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    t = job.train
    save_steps = t.save_steps or t.eval_steps
    early = t.early_stopping_patience is not None
    options: dict[str, Any] = {
        "output_dir": str(run_dir / rundir.CHECKPOINTS),
        # batch_size is the global batch: N processes (torchrun) take batch_size / N each
        "per_device_train_batch_size": per_device_batch(t.batch_size, world_size()),
        "per_device_eval_batch_size": t.eval_batch_size or t.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps or -1,
        "learning_rate": t.learning_rate,
        "weight_decay": t.weight_decay,
        "warmup_steps": t.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "lr_scheduler_type": t.scheduler,
        "eval_strategy": "steps" if t.eval_steps else "epoch",
        "eval_steps": t.eval_steps,
        "save_strategy": "steps" if save_steps else "epoch",
        "save_steps": save_steps or 500,
        "save_total_limit": t.save_total_limit,
        "logging_steps": t.logging_steps,
        "report_to": "none",
        "disable_tqdm": True,
        "seed": t.seed,
        "data_seed": t.seed,
        "load_best_model_at_end": early,
        "metric_for_best_model": prepared.metric if early else None,
        "greater_is_better": prepared.greater_is_better if early else None,
        "train_sampling_strategy": "group_by_length" if t.group_by_length else "random",
        "include_num_input_tokens_seen": "non_padding",
        "bf16": use_bf16(t.bf16),
        # a host without CUDA/MPS says so: the Trainer takes CPU bf16 only when told, and under torchrun starts
        # gloo DDP / FSDP only then (float32 ranks without it each trained alone, or refused FSDP)
        "use_cpu": not _accelerator(),
        "activation_checkpointing": t.gradient_checkpointing,
        "dataloader_pin_memory": _accelerator(),
        "remove_unused_columns": False,
        # on N processes the Trainer would otherwise scale each rank's loss by N before backward and log that
        # scaled loss (train_loss N times too high); plain DDP averaging gives a sequence task the same gradient
        "average_tokens_across_devices": False,
        "dataloader_num_workers": 0,
    }
    options.update(prepared.extra.get("training_arguments", {}))
    if is_fsdp(job):
        options.update(fsdp_options(job, prepared.model))
    if prepared.seq2seq:
        options.update(predict_with_generate=True, generation_max_length=t.max_target_length)
        return Seq2SeqTrainingArguments(**options)
    return TrainingArguments(**options)


def _callbacks(job: Job, run_dir: Path, metric: str) -> list[Any]:
    from transformers import EarlyStoppingCallback

    callbacks: list[Any] = [RunLogCallback(run_dir, metric), HeapTrimCallback()]
    if job.train.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=job.train.early_stopping_patience))
    return callbacks


def build_trainer(job: Job, prepared: Prepared, run_dir: Path, extra_callbacks: list[Any]) -> Any:
    from transformers import PrinterCallback, Seq2SeqTrainer, Trainer

    trainer_class = Seq2SeqTrainer if prepared.seq2seq else Trainer
    trainer = trainer_class(
        model=prepared.model,
        args=training_arguments(job, prepared, run_dir),
        data_collator=prepared.collator,
        train_dataset=prepared.train,
        eval_dataset=prepared.validation,  # type: ignore[arg-type]  # a map-style dataset
        processing_class=prepared.tokenizer,
        compute_metrics=prepared.compute_metrics,
        preprocess_logits_for_metrics=prepared.preprocess_logits,
        callbacks=_callbacks(job, run_dir, prepared.metric) + extra_callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # RunLogCallback logs progress; stdout stays free for --json
    return trainer


def describe_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """What a resume restores from a checkpoint: step, epoch and which states are present."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    files = {p.name for p in checkpoint.iterdir()}
    restored = {
        "optimizer": bool({"optimizer.pt", "optimizer.bin"} & files),  # .bin: an FSDP checkpoint
        "scheduler": "scheduler.pt" in files,
        "rng": any(name.startswith("rng_state") for name in files),
        "data_position": True,  # the Trainer skips the batches already seen in the interrupted epoch
    }
    return {
        "checkpoint": str(checkpoint),
        "global_step": state.get("global_step"),
        "epoch": state.get("epoch"),
        "restored": restored,
    }


def train(
    job: Job, prepared: Prepared, run_dir: Path, resume: bool, callbacks: list[Any]
) -> tuple[Any, dict[str, Any]]:
    """Trains; returns the trainer and a summary (runtime, tokens/s, what was resumed)."""
    checkpoint = rundir.last_checkpoint(run_dir)
    if resume and checkpoint is None:
        raise RunFolderError(
            f"--resume: no complete checkpoint in {run_dir / rundir.CHECKPOINTS}; run the job without "
            "--resume (checkpoints are written every train.save_steps, or eval_steps, or each epoch)"
        )
    resumed = describe_checkpoint(checkpoint) if resume and checkpoint else None
    if resumed and checkpoint:
        progress_logger.info(
            "resuming from %s: step %s, epoch %.2f; restoring %s",
            checkpoint.name,
            resumed["global_step"],
            resumed["epoch"] or 0.0,
            ", ".join(k for k, v in resumed["restored"].items() if v),
        )
    trainer = build_trainer(job, prepared, run_dir, callbacks)
    check_sharded(job, trainer)
    # accelerate's FSDP2 shards the model together with the optimizer, inside train(): no evaluate() before it
    if prepared.extra.get("eval_before") and not resumed and not is_fsdp(job):
        before = trainer.evaluate()
        prepared.extra["eval_loss_before"] = before.get("eval_loss")
        progress_logger.info("validation loss before training: %.4f", before.get("eval_loss", float("nan")))
    started = time.perf_counter()
    with _frozen_cache(job, prepared.model) as cache:
        if resumed and checkpoint and _finished(checkpoint):
            metrics = _restore_finished(trainer, checkpoint)
        else:
            metrics = trainer.train(resume_from_checkpoint=str(checkpoint) if resumed else None).metrics
    seconds = time.perf_counter() - started
    summary = dict(metrics)
    if cache is not None:
        summary["frozen_cache"] = {"texts": cache.rows, "megabytes": round(cache.nbytes / 2**20, 1),
                                   "batches_from_cache": cache.hits, "batches_computed": cache.misses}
        progress_logger.info("frozen-layer cache: %d texts, %.0f MB; %d batches read from it, %d computed",
                             cache.rows, cache.nbytes / 2**20, cache.hits, cache.misses)
        cache.store.clear()  # its memory goes before the run folder is written and the model reloaded
    summary.update(
        global_step=trainer.state.global_step,
        num_input_tokens_seen=trainer.state.num_input_tokens_seen,
        wall_seconds=round(seconds, 2),
        resumed=resumed,
        best_checkpoint=trainer.state.best_model_checkpoint,
    )
    return trainer, summary


@contextmanager
def _frozen_cache(job: Job, model: Any) -> Iterator[FrozenLayerCache | None]:
    """The frozen-layer cache when the job asks for it (`lora.cache_frozen`), else nothing."""
    lora = job.lora
    if lora is None or not lora.cache_frozen or lora.top_layers is None:
        yield None
        return
    count = layer_count(backbone_of(model).config) or 0
    with frozen_layer_cache(model, first_adapted=count - lora.top_layers) as cache:
        yield cache


def _finished(checkpoint: Path) -> bool:
    """The checkpoint is the last step of training (a run killed while saving or evaluating its result)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return bool(state.get("max_steps")) and state.get("global_step", 0) >= state["max_steps"]


def _restore_finished(trainer: Any, checkpoint: Path) -> dict[str, Any]:
    """Weights and state of a finished training, without a training step: resuming it through `train` would
    run one step past max_steps (the Trainer steps before it checks the limit)."""
    from transformers import TrainerState

    progress_logger.info("%s is the last step: training is complete, only the result is written", checkpoint.name)
    trainer._load_from_checkpoint(str(checkpoint))
    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    if trainer.args.load_best_model_at_end and trainer.state.best_model_checkpoint:
        trainer._load_best_model()
    return {"train_runtime": None, "train_loss": None}


class _Hooks:
    """A Trainer callback without importing transformers here: the Trainer calls every `on_*` hook, and the ones
    a subclass does not define do nothing."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


class HeapTrimCallback(_Hooks):
    """Returns freed heap memory to the system after every optimizer step of a CPU run.

    Steps over batches of many lengths fragment glibc's heaps and the process grows step after step: the SciFact
    `kb tune` run (e5-small, 48 steps) crept from 2.15 to 2.71 GB between steps and peaked at 3.03 GB. A trim
    costs milliseconds against seconds-long CPU steps; GPU runs (whose steps are short and whose memory is the
    device's) are left alone."""

    def __init__(self) -> None:
        self.cpu = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.cpu = args.device.type == "cpu"

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.cpu:
            release_free_memory()


class RunLogCallback(_Hooks):
    """Progress lines (step, loss, tokens/s, ETA), train_log.jsonl and TensorBoard events, on rank 0."""

    def __init__(self, run_dir: Path, metric: str) -> None:
        self.run_dir = run_dir
        self.metric = metric
        self.writer: Any = None
        self.clock = (0.0, 0, 0)  # (time, step, tokens) at the last progress line
        self.start = (0.0, 0)  # (time, step) when this process began training

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.run_dir / rundir.TENSORBOARD), purge_step=state.global_step or None)
        self.clock = (time.perf_counter(), state.global_step, state.num_input_tokens_seen)
        self.start = self.clock[:2]

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        rundir.write_train_log(self.run_dir, state.log_history)
        if self.writer is not None:
            for key, value in logs.items():
                if isinstance(value, int | float):
                    self.writer.add_scalar(
                        key.replace("eval_", "eval/", 1) if key.startswith("eval_") else f"train/{key}",
                        value,
                        state.global_step,
                    )
            self.writer.flush()
        if "loss" in logs:
            self._progress(state, logs)
        elif f"eval_{self.metric}" in logs:
            shown = {
                k[5:]: round(v, 4)
                for k, v in logs.items()
                if k.startswith("eval_") and isinstance(v, float) and "per_second" not in k
            }
            progress_logger.info("step %d eval %s", state.global_step, shown)

    def _progress(self, state: Any, logs: dict[str, Any]) -> None:
        now, step, tokens = time.perf_counter(), state.global_step, state.num_input_tokens_seen
        then, then_step, then_tokens = self.clock
        elapsed = max(now - then, 1e-9)
        # ETA from the mean step since training began: length-grouped batches make any one stretch of steps
        # much longer or shorter than the next (ETAs jumped between 4m35s and 12m53s on ChnSentiCorp)
        per_step = (now - self.start[0]) / max(step - self.start[1], 1)
        eta = round(per_step * max(state.max_steps - step, 0))
        progress_logger.info(
            "step %d/%d loss %.4f lr %.2e %.0f tokens/s ETA %dm%02ds",
            step,
            state.max_steps,
            logs["loss"],
            logs.get("learning_rate", 0.0),
            (tokens - then_tokens) / elapsed,
            eta // 60,
            eta % 60,
        )
        self.clock = (now, step, tokens)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
