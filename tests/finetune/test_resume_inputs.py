"""`--resume` refuses checkpoints whose data file or base model changed under the same path (the manifest
records their sha256), with a message that says what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from finetune.config import load_job
from finetune.errors import RunFolderError
from finetune.runner import run_job
from tests.support.finetune_data import job_dict


def _job(tmp_path: Path, tiny_bert: Path, files: tuple[Path, Path]) -> tuple[Path, Path, Path]:
    """(job file, its base model copy, its train file copy): copies the test may change."""
    base = Path(shutil.copytree(tiny_bert, tmp_path / "base"))
    train = Path(shutil.copy(files[0], tmp_path / "train.jsonl"))
    raw = job_dict("classification", base, train, files[1], tmp_path / "run", max_steps=2, save_steps=2)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return tmp_path / "job.yaml", base, train


def test_resume_refuses_changed_data_then_a_changed_base_model(
        tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path) -> None:
    job_file, base, train = _job(tmp_path, tiny_bert, sentiment_files)
    run_job(load_job(job_file))
    original = train.read_bytes()
    train.write_bytes(original + original.splitlines(keepends=True)[0])  # one more row, same path
    with pytest.raises(RunFolderError, match=r"train data .* changed .*new output_dir"):
        run_job(load_job(job_file), resume=True)
    train.write_bytes(original)
    config = base / "config.json"
    config.write_text(config.read_text() + "\n")
    with pytest.raises(RunFolderError, match=r"base model .* changed"):
        run_job(load_job(job_file), resume=True)
