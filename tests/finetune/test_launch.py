"""`llmapp finetune JOB.yaml --nproc 2`: a 2-process gloo run on CPU ends with the metrics of a 1-process run
(within TOLERANCE), and a 2-process run resumed after kill -9 of one rank ends where an uninterrupted one ends.

The tiny BERT here has no dropout: with the global batch split over the ranks, the two runs then compute the
same gradients, and the only differences are float summation orders (all-reduce vs one batch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from finetune.config import load_job
from finetune.runner import run_job
from tests.support.finetune_data import job_dict

TOLERANCE = 1e-3  # absolute, on every float metric (accuracy, macro F1, eval loss, train loss)
REPO = Path(__file__).resolve().parents[2]

# Each rank runs the job with a callback that, once the checkpoint at step 2 is on disk, writes its pid to
# marker-RANK and hangs, so the test can kill -9 one rank at a known point.
HANGING_RANK = """
import os, sys, time
from pathlib import Path
from transformers import TrainerCallback
from finetune.config import load_job
from finetune.runner import run_job

class HangAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        Path(sys.argv[2] + "-" + os.environ["RANK"]).write_text(str(os.getpid()))
        time.sleep(600)

run_job(load_job(Path(sys.argv[1])), callbacks=[HangAfterFirstSave()])
"""


def _job(folder: Path, base: Path, files: tuple[Path, Path], **train: Any) -> Path:
    raw = job_dict("classification", base, *files, folder / "run", max_steps=6, save_steps=2, eval_steps=6, **train)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return folder / "job.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _cli(job: Path, *extra: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "llmapp", "finetune", str(job), "--nproc", "2", "--json", *extra]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def kill_rank1_after_first_save(job: Path, script: str) -> None:
    """Runs `script` on 2 ranks (it must hang each rank after its first checkpoint, like HANGING_RANK) and
    kill -9s rank 1 there; torchrun then stops rank 0 and fails."""
    marker = job.parent / "saved"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "--no-python", sys.executable, "-c", script, str(job), str(marker)]
    launcher = subprocess.Popen(command, env=_env(), stderr=subprocess.PIPE)
    rank1 = Path(f"{marker}-1")
    deadline = time.monotonic() + 300
    while not rank1.exists() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert rank1.exists(), launcher.stderr.read().decode()[-3000:] if launcher.poll() is not None else "timeout"  # type: ignore[union-attr]
    os.kill(int(rank1.read_text()), signal.SIGKILL)
    assert launcher.wait(timeout=120) != 0  # torchrun stops the other rank and fails


def _floats(metrics: dict[str, Any], train_loss: bool = True) -> dict[str, float]:
    """The float metrics; the train loss too unless the run resumed (it then averages only the later steps)."""
    found = {k: v for k, v in metrics.items() if isinstance(v, float)}
    if train_loss:
        found["train_loss"] = metrics["training"]["train_loss"]
    return found


@pytest.fixture(scope="module")
def two_process(steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Any]:
    return _cli(_job(tmp_path_factory.mktemp("ddp"), steady_bert, sentiment_files))


@pytest.mark.slow
def test_two_processes_match_one_process(
    two_process: dict[str, Any], steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    one = run_job(load_job(_job(tmp_path, steady_bert, sentiment_files)))
    assert two_process["metrics"]["training"]["global_step"] == one.metrics["training"]["global_step"] == 6
    mine, theirs = _floats(two_process["metrics"]), _floats(one.metrics)
    assert mine.keys() == theirs.keys() and len(mine) >= 3
    for name, value in mine.items():
        assert abs(value - theirs[name]) <= TOLERANCE, (name, value, theirs[name])


@pytest.mark.slow
def test_resume_after_kill_of_one_rank(
    two_process: dict[str, Any], steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    job = _job(tmp_path, steady_bert, sentiment_files)
    kill_rank1_after_first_save(job, HANGING_RANK)
    resumed = _cli(job, "--resume")
    training = resumed["metrics"]["training"]
    assert training["resumed"]["global_step"] == 2 and training["global_step"] == 6
    straight = _floats(two_process["metrics"], train_loss=False)
    for name, value in _floats(resumed["metrics"], train_loss=False).items():
        assert abs(value - straight[name]) <= TOLERANCE, (name, value, straight[name])
