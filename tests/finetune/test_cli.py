"""`llmapp finetune JOB.yaml --json`, `eval --json`, `export --merge`, and a 2-process CPU DDP run (torchrun)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmapp.cli import app
from tests.support.finetune_data import job_dict


@pytest.mark.e2e
def test_cli_trains_evaluates_and_exports(tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(job_dict("classification", tiny_bert, *sentiment_files, tmp_path / "run")))
    runner = CliRunner()
    trained = runner.invoke(app, ["finetune", str(job), "--json"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["metrics"]["confusion_matrix"]["labels"] == ["neg", "pos"]
    evaluated = runner.invoke(
        app, ["finetune", "eval", str(tmp_path / "run"), "--data", str(sentiment_files[0]), "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(json.loads(evaluated.stdout))
    exported = runner.invoke(
        app, ["finetune", "export", str(tmp_path / "run"), "--merge", "--out", str(tmp_path / "merged")]
    )
    assert exported.exit_code == 0 and "tolerance" in exported.output
    again = runner.invoke(app, ["finetune", "run", str(job)])
    assert again.exit_code != 0 and "pass --resume" in str(again.exception)


@pytest.mark.slow
def test_two_process_ddp_run_with_torchrun(tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        yaml.safe_dump(
            job_dict("classification", tiny_bert, *sentiment_files, tmp_path / "run", max_steps=4, save_steps=2)
        )
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "finetune",
        str(job),
        "--json",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["training"]["global_step"] == 4
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    # two ranks x batch 8 per step: 4 steps see 64 examples of real tokens between them
    assert log[-1]["num_input_tokens_seen"] > 0 and (tmp_path / "run" / "adapter").is_dir()
