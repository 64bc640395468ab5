"""The weights identity that `classify --resume` compares: a run holding only an adapter is loaded on its base
model, so new base weights at the same path must change it too."""

from __future__ import annotations

import json
from pathlib import Path

from llmapp.classify.identity import weights_sha256


def _adapter_run(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"base weights")
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_model.safetensors").write_bytes(b"adapter weights")
    (run / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-5" / "model.safetensors").write_bytes(b"a checkpoint")
    (run / "manifest.json").write_text(json.dumps({"task": "classification", "status": "finished",
                                                   "base_model": {"name": "b", "path": str(base)}, "job": {}}))
    return run, base


def test_new_base_weights_under_an_adapter_run_change_the_identity(tmp_path: Path) -> None:
    run, base = _adapter_run(tmp_path)
    before = weights_sha256(run)
    (base / "model.safetensors").write_bytes(b"other base weights")
    assert weights_sha256(run) != before


def test_checkpoints_and_a_merged_run_do_not_read_the_base(tmp_path: Path) -> None:
    run, base = _adapter_run(tmp_path)
    before = weights_sha256(run)
    (run / "checkpoints" / "checkpoint-5" / "model.safetensors").write_bytes(b"another checkpoint")
    assert weights_sha256(run) == before
    (run / "model").mkdir()
    (run / "model" / "model.safetensors").write_bytes(b"merged weights")
    merged = weights_sha256(run)
    (base / "model.safetensors").write_bytes(b"other base weights")  # a full model in model/ needs no base
    assert weights_sha256(run) == merged
