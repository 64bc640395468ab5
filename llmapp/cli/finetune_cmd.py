"""`llmapp finetune JOB.yaml [--resume] [--json]`, `llmapp finetune eval RUN --data FILE [--json]`,
`llmapp finetune export RUN --merge --out DIR`: thin commands over `finetune.runner`.

`llmapp finetune JOB.yaml` is short for `llmapp finetune run JOB.yaml` (the group routes a first argument that
is not a command name to `run`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from llmapp.cli.common import print_json


class _RunByDefault(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's click Context
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


finetune_app = typer.Typer(
    cls=_RunByDefault,
    help="Fine-tune local checkpoints (LoRA or full): `llmapp finetune JOB.yaml`, then eval / export a run.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _verbose() -> None:
    logging.getLogger("finetune").setLevel(logging.INFO)


def _summary(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))


@finetune_app.command("run")
def run(
    job: Path = typer.Argument(..., exists=True, dir_okay=False, help="the job YAML"),
    resume: bool = typer.Option(False, "--resume", help="continue from the run's last checkpoint"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    nproc: int = typer.Option(1, "--nproc", min=1, help="processes (DDP through torchrun: gloo on CPU, one per GPU; "
                              "FSDP on GPUs with train.distributed: fsdp); train.batch_size stays the global batch"),
) -> None:
    """Train a job and write its run folder."""
    from finetune.config import load_job
    from finetune.runner import run_job, run_result

    _verbose()
    if nproc > 1:
        from finetune.launch import launch

        launch(job, nproc, resume)
        result = run_result(load_job(job).output_dir)
    else:
        result = run_job(load_job(job), resume=resume)
    if as_json:
        print_json({"run_dir": str(result.run_dir), "metrics": result.metrics, "data": result.data_report})
    else:
        typer.echo(f"run folder: {result.run_dir}\n{_summary(result.metrics)}")


@finetune_app.command("eval")
def evaluate(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="a finished run folder"),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help=".jsonl, .csv or .tsv"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
) -> None:
    """The run's metrics (same names as its metrics.json) on another data file."""
    from finetune.runner import evaluate_run

    _verbose()
    metrics = evaluate_run(run_dir, data)
    if as_json:
        print_json(metrics)
    else:
        typer.echo(_summary(metrics))


@finetune_app.command("export")
def export(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="a finished run folder"),
    merge: bool = typer.Option(False, "--merge", help="merge the adapter into the base weights"),
    out: Path = typer.Option(..., "--out", help="a new folder for the merged model"),
) -> None:
    """Save a merged standalone model, checked against the adapter model on a probe batch."""
    from finetune.runner import export_run

    if not merge:
        raise typer.BadParameter("only merged export exists: pass --merge", param_hint="--merge")
    _verbose()
    report = export_run(run_dir, out)
    typer.echo(
        f"merged model: {out} (max |merged - adapter| = {report['max_abs_diff_merged_vs_adapter']:.2e}, "
        f"tolerance {report['tolerance']})"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(finetune_app, name="finetune")
