"""The tuning job's settings: no dropout anywhere by default (CPU speed and memory), the user's choice kept."""

from __future__ import annotations

from pathlib import Path

from finetune.config import parse_job
from llmapp.tune.training import TrainOptions, job_dict


def test_the_tuning_job_trains_without_dropout_unless_asked(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    default = parse_job(job_dict(tmp_path, data, tmp_path / "run", TrainOptions()), tmp_path, "kb tune")
    assert default.train.dropout == 0.0 and default.lora is not None and default.lora.dropout == 0.0
    chosen = parse_job(job_dict(tmp_path, data, tmp_path / "run", TrainOptions(dropout=0.1, full=True)), tmp_path,
                       "kb tune")
    assert chosen.train.dropout == 0.1 and chosen.lora is None
