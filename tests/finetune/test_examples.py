"""The example jobs read and write outside the repository, in ~/llmapp-examples ("~" expands in job paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune.config import load_job, parse_job

ROOT = Path(__file__).resolve().parents[2]


def test_tilde_paths_expand_to_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    job = parse_job({"task": "classification", "base_model": "minilm", "output_dir": "~/runs/x",
                     "data": {"train": "~/data/train.tsv"}}, root=ROOT / "examples")
    assert job.data.train == tmp_path / "data" / "train.tsv" and job.output_dir == tmp_path / "runs" / "x"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples" / "finetune").glob("*.yaml")))
def test_example_jobs_stay_out_of_the_repository(name: str) -> None:
    job = load_job(ROOT / "examples" / "finetune" / name)
    for path in (job.data.train, job.data.validation, job.output_dir):
        assert path is not None and not path.resolve().is_relative_to(ROOT), path
        assert not path.resolve().is_relative_to(ROOT.parent / "shared"), path


def test_the_chinese_example_uses_the_multilingual_encoder() -> None:
    assert load_job(ROOT / "examples" / "finetune" / "chnsenticorp-lora.yaml").base_model == "e5-small"
