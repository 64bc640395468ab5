"""Resume after kill -9: a run SIGKILLed after its first checkpoint, resumed, ends where an uninterrupted run
with the same seed ends (same adapter weights)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from finetune import rundir
from finetune.config import load_job
from finetune.errors import RunFolderError
from finetune.runner import run_job
from tests.support.finetune_data import job_dict

# Runs the job with a callback that, once the checkpoint at step 4 is on disk, announces it and hangs,
# so the test can kill -9 the process at a known point.
HANGING_RUN = """
import sys, time
from pathlib import Path
from transformers import TrainerCallback
from finetune.config import load_job
from finetune.runner import run_job

class HangAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        Path(sys.argv[2]).write_text(str(state.global_step))
        time.sleep(600)

run_job(load_job(Path(sys.argv[1])), callbacks=[HangAfterFirstSave()])
"""


def _adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "adapter" / "adapter_model.safetensors")


def _write_job(folder: Path, tiny_bert: Path, files: tuple[Path, Path]) -> Path:
    raw = job_dict("classification", tiny_bert, *files, folder / "run", max_steps=12, save_steps=4, logging_steps=1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return folder / "job.yaml"


def test_resume_after_sigkill_ends_where_an_uninterrupted_run_ends(
    tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    straight = run_job(load_job(_write_job(tmp_path / "straight", tiny_bert, sentiment_files)))
    job_file = _write_job(tmp_path / "killed", tiny_bert, sentiment_files)
    marker = tmp_path / "saved"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen([sys.executable, "-c", HANGING_RUN, str(job_file), str(marker)], env=env)
    deadline = time.time() + 120
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert marker.read_text() == "4"

    with pytest.raises(RunFolderError, match="--resume"):
        run_job(load_job(job_file))  # never a silent restart over existing checkpoints
    resumed = run_job(load_job(job_file), resume=True)
    assert resumed.training["resumed"]["global_step"] == 4
    assert all(resumed.training["resumed"]["restored"].values())
    assert resumed.training["global_step"] == straight.training["global_step"] == 12
    first, second = _adapter(straight.run_dir), _adapter(resumed.run_dir)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.allclose(first[name], second[name], atol=1e-6), name
    log = [json.loads(line) for line in (resumed.run_dir / rundir.TRAIN_LOG).read_text().splitlines()]
    assert [e["step"] for e in log if "loss" in e] == list(range(1, 13))


def test_resume_after_a_kill_during_the_final_evaluation_trains_no_further(
    tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    job_file = _write_job(tmp_path / "final", tiny_bert, sentiment_files)
    first = run_job(load_job(job_file))
    assert first.training["global_step"] == 12
    # What a kill during the final evaluation leaves: every checkpoint, and a manifest still "training".
    manifest = json.loads((first.run_dir / rundir.MANIFEST).read_text())
    manifest["status"] = "training"
    (first.run_dir / rundir.MANIFEST).write_text(json.dumps(manifest))
    (first.run_dir / rundir.METRICS).unlink()
    resumed = run_job(load_job(job_file), resume=True)
    assert resumed.training["resumed"]["global_step"] == 12
    assert resumed.training["global_step"] == 12, "resuming a finished training must not train another step"
    assert json.loads((first.run_dir / rundir.MANIFEST).read_text())["status"] == "finished"
    assert resumed.metrics["accuracy"] == pytest.approx(first.metrics["accuracy"])
