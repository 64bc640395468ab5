"""Running a job end to end, evaluating a run on another file, and exporting a merged model.

result = run_job(load_job(Path("job.yaml")))          # trains, writes the run folder
metrics = evaluate_run(Path("runs/x"), Path("more.tsv"))
report = export_run(Path("runs/x"), Path("merged/"))
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune import rundir
from finetune.config import Job, job_as_dict, parse_job
from finetune.data import UNKNOWN_WARNING, Loaded, load_records, split_records
from finetune.errors import JobConfigError, RunFolderError
from finetune.fsdp import check_processes, gathered_model
from finetune.launch import world_size
from finetune.models import folder_sha256, resolve_base_model, set_dropout
from finetune.runs import RunManifest
from finetune.tasks import get_task
from finetune.tasks.base import Task
from finetune.training import is_main_process, train
from llmcommon.hashing import file_sha256
from llmcommon.heap import collect_and_release

logger = logging.getLogger(__name__)
progress_logger = logging.getLogger("finetune.progress")


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    training: dict[str, Any]
    data_report: dict[str, Any]


@dataclass
class Splits:
    train: Loaded[Any]
    validation: Loaded[Any] | None
    train_records: list[Any]
    validation_records: list[Any]


def load_splits(job: Job, task: Task) -> Splits:
    """Train and validation records; bad rows reported; a seeded split when there is no validation file."""
    data = job.data
    train = load_records(data.train, task.parser(data), data.max_bad_fraction)
    if data.validation is None:
        records, held = split_records(train.records, data.validation_split, job.train.seed)
        return Splits(train, None, records, held)
    labels = task.labels(data, train.records)
    validation = load_records(data.validation, task.parser(data, labels), data.max_bad_fraction)
    return Splits(train, validation, train.records, validation.records)


def _data_report(splits: Splits, lengths: dict[str, Any]) -> dict[str, Any]:
    files = {"train": splits.train.report()}
    if splits.validation is not None:
        files["validation"] = splits.validation.report()
    return {
        "files": files,
        "train_examples": len(splits.train_records),
        "validation_examples": len(splits.validation_records),
        "token_lengths": lengths,
    }


def _inputs(job: Job, base: Path, splits: Splits) -> dict[str, Any]:
    """The base model and data files of a run, with their hashes (what a resume must find unchanged)."""
    data = {"train": {"path": str(splits.train.path), "sha256": file_sha256(splits.train.path)}}
    if splits.validation is not None:
        data["validation"] = {
            "path": str(splits.validation.path),
            "sha256": file_sha256(splits.validation.path),
        }
    return {"base_model": {"name": job.base_model, "path": str(base), "sha256": folder_sha256(base)}, "data": data}


def _guard_inputs(run_dir: Path, resume: bool, inputs: dict[str, Any]) -> None:
    """Never resume checkpoints onto other data or another base model: the job file can name the same paths
    while their content changed."""
    if not resume or not (run_dir / rundir.MANIFEST).is_file():
        return
    recorded = rundir.read_json(run_dir / rundir.MANIFEST)
    changed = [f"{split} data ({inputs['data'][split]['path']})" for split in sorted(inputs["data"])
               if (recorded.get("data") or {}).get(split, {}).get("sha256") != inputs["data"][split]["sha256"]]
    if (recorded.get("base_model") or {}).get("sha256") != inputs["base_model"]["sha256"]:
        changed.append(f"base model ({inputs['base_model']['path']})")
    if changed:
        raise RunFolderError(
            f"cannot resume {run_dir}: the {', '.join(changed)} changed since its checkpoints were written "
            "(sha256 differs from its manifest.json). Resume with the original files, or start over: run "
            "without --resume into a new output_dir (or delete this run folder first)"
        )


def _manifest(job: Job, inputs: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "schema_version": rundir.SCHEMA_VERSION,
        "task": job.task,
        "status": status,
        **inputs,
        "versions": rundir.versions(),
        "job": job_as_dict(job),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _guard_run_dir(job: Job, run_dir: Path, resume: bool) -> None:
    """Never silently restart over checkpoints, nor resume with a different job."""
    checkpoint = rundir.last_checkpoint(run_dir)
    if not resume and checkpoint is not None:
        raise RunFolderError(
            f"{run_dir} already has checkpoints (last: {checkpoint.name}); pass --resume to continue that "
            "run, or choose another output_dir"
        )
    if resume and (run_dir / rundir.MANIFEST).is_file():
        recorded = rundir.read_json(run_dir / rundir.MANIFEST)["job"]
        current = job_as_dict(job)
        changed = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
        if changed:
            raise RunFolderError(
                f"--resume with a different job than the run's (changed: {', '.join(changed)}); "
                "resume with the original job file or start a new output_dir"
            )


def _check_full_finetune(job: Job, parameters: int) -> None:
    limit = job.train.full_finetune_max_params
    if job.lora is None and parameters > limit:
        raise JobConfigError(
            f"lora: null trains all {parameters:,} parameters, above train.full_finetune_max_params={limit:,}; "
            "use a lora section, or raise the limit if this machine has the memory for it"
        )


def _log_lengths(lengths: dict[str, Any]) -> None:
    for split, stats in lengths.items():
        if stats.get("count"):
            progress_logger.info(
                "%s token lengths: mean %.1f, p50 %d, p95 %d, max %d; %d of %d truncated at %d",
                split,
                stats["mean"],
                stats["p50"],
                stats["p95"],
                stats["max"],
                stats["truncated"],
                stats["count"],
                stats["max_length"],
            )
        if stats.get("answer_fully_truncated"):
            logger.warning(
                "%s: %d of %d conversations lose their whole answer at max_length=%d and are skipped; "
                "raise train.max_length (p95 length is %d)",
                split, stats["answer_fully_truncated"], stats["count"], stats["max_length"], stats["p95"],
            )
        share = stats.get("unknown_token_share")
        if share is not None and share > UNKNOWN_WARNING:
            logger.warning(
                "%s: %.0f%% of the tokens are the tokenizer's unknown token: the base model's vocabulary does not "
                "cover this text (e.g. MiniLM and Chinese), so the model can barely learn from it; pick a base "
                "model whose tokenizer covers the language (a Chinese or multilingual BERT folder, or base_model: "
                "smollm2, which reaches 0.714 on ChnSentiCorp where MiniLM stays at chance)",
                split, 100 * share,
            )


def run_job(job: Job, resume: bool = False, callbacks: list[Any] | None = None) -> RunResult:
    """Trains the job and writes its run folder (rank 0 writes; other DDP ranks only train).

    `callbacks`: extra `transformers.TrainerCallback`s, e.g. your own logging.
    """
    task = get_task(job.task)
    base = resolve_base_model(job.base_model)
    run_dir = job.output_dir
    main = is_main_process()
    check_processes(job, world_size())
    _guard_run_dir(job, run_dir, resume)
    splits = load_splits(job, task)
    inputs = _inputs(job, base, splits)
    _guard_inputs(run_dir, resume, inputs)
    from transformers import set_seed

    set_seed(job.train.seed)  # the new head and LoRA's A matrices are initialised here: same seed, same run
    prepared = task.prepare(job, base, splits.train_records, splits.validation_records)
    if job.train.dropout is not None:
        logger.info("dropout %s in %d layers of the model while training", job.train.dropout,
                    set_dropout(prepared.model, job.train.dropout))
    _check_full_finetune(job, prepared.extra.get("total", 0))
    report = _data_report(splits, prepared.lengths)
    _log_lengths(prepared.lengths)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir.write_json(run_dir / rundir.DATA_REPORT, report)
        rundir.write_json(run_dir / rundir.MANIFEST, _manifest(job, inputs, "training"))
    trainer, summary = train(job, prepared, run_dir, resume, callbacks or [])
    model = gathered_model(job, trainer)  # under FSDP a collective: every rank gathers, rank 0 keeps the weights
    if not main:
        return RunResult(run_dir, {}, summary, report)
    extra = _save(job, task, prepared, trainer, model, inputs, summary)
    # the trained model is measured as reloaded from the run folder; the live one (and the trainer's optimizer
    # state) is released first, so the two never sit in memory together (~0.8 GB for e5-small)
    del trainer, model, prepared
    collect_and_release()
    metrics = _measure(job, task, splits, summary, extra)
    return RunResult(run_dir, metrics, summary, report)


def _save(job: Job, task: Task, prepared: Any, trainer: Any, model: Any, inputs: dict[str, Any],
          summary: dict[str, Any]) -> dict[str, Any]:
    """Writes the model, the manifest, the training log and curves; returns what the metrics need of `prepared`."""
    run_dir = job.output_dir
    task.save(prepared, model, run_dir)
    rundir.write_json(run_dir / "probe.json", {"inputs": prepared.probe})
    manifest = _manifest(job, inputs, "finished")
    manifest["training"] = summary
    manifest["parameters"] = {
        "trainable": prepared.extra.get("trainable"),
        "total": prepared.extra.get("total"),
    }
    rundir.write_json(run_dir / rundir.MANIFEST, manifest)
    rundir.write_train_log(run_dir, trainer.state.log_history)
    rundir.plot_curves(run_dir, trainer.state.log_history, prepared.metric)
    return {k: prepared.extra[k] for k in ("eval_loss_before",) if k in prepared.extra}


def _measure(job: Job, task: Task, splits: Splits, summary: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Reloads the model from the run folder and measures it: metrics describe what was saved."""
    run_dir = job.output_dir
    metrics = task.load(run_dir).evaluate(splits.validation_records)
    metrics["training"] = {
        k: summary.get(k)
        for k in (
            "global_step",
            "train_runtime",
            "train_loss",
            "train_tokens_per_second",
            "wall_seconds",
            "resumed",
            "best_checkpoint",
        )
    }
    metrics.update(extra)
    rundir.write_json(run_dir / rundir.METRICS, metrics)
    progress_logger.info("done: %s", {k: v for k, v in metrics.items() if isinstance(v, float)})
    return metrics


def run_result(run_dir: Path) -> RunResult:
    """A finished run folder's result, as `run_job` returned it (e.g. after a multi-process run)."""
    manifest = RunManifest.read(run_dir)
    if not manifest.finished:
        raise RunFolderError(f"{run_dir} did not finish training (status {manifest.status!r}); "
                             "rerun the same command with --resume")
    return RunResult(run_dir, rundir.read_json(run_dir / rundir.METRICS), manifest.training,
                     rundir.read_json(run_dir / rundir.DATA_REPORT))


def recorded_job(run_dir: Path) -> Job:
    """The job a run folder was trained with (from its manifest)."""
    manifest = RunManifest.read(run_dir)
    if not manifest.finished:
        raise RunFolderError(
            f"{run_dir} did not finish training (status {manifest.status!r}); resume it with --resume first"
        )
    return parse_job(manifest.job, run_dir, str(run_dir / rundir.MANIFEST))


def evaluate_run(run_dir: Path, data_file: Path) -> dict[str, Any]:
    """The run's metrics on another data file, read with the run's own column settings."""
    job = recorded_job(run_dir)
    task = get_task(job.task)
    labels = None
    if (run_dir / rundir.LABELS).is_file():
        labels = rundir.read_json(run_dir / rundir.LABELS)["labels"]
    loaded = load_records(data_file, task.parser(job.data, labels), job.data.max_bad_fraction)
    metrics = task.load(run_dir).evaluate(loaded.records)
    metrics["data"] = {"path": str(data_file), "kept": len(loaded.records), "bad": len(loaded.problems)}
    return metrics


def export_run(run_dir: Path, out: Path) -> dict[str, Any]:
    """Merges the adapter into the base model, saves it to `out`, and checks it against the adapter model."""
    job = recorded_job(run_dir)
    if out.exists() and any(out.iterdir()):
        raise RunFolderError(f"{out} is not empty; export into a new folder")
    probe = rundir.read_json(run_dir / "probe.json")["inputs"]
    report = get_task(job.task).load(run_dir).export(out, probe)
    rundir.write_json(out / "export.json", {"run": str(run_dir), "check": report})
    return report
