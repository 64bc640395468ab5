"""`llmapp kb tune` end to end on a tiny corpus with a tiny random encoder: the loop runs every phase, and the
gate refuses (too few held-out queries to show a significant gain), leaving the knowledge base as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ingest.embed import SentenceTransformerEmbedder
from ingest.store import KnowledgeBase
from tests.support.retrieval_fixtures import EN, ZH, build_kb


def llmapp(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMAPP_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "llmapp", *args], capture_output=True, text=True, env=env,
                          check=False, timeout=600)


def test_kb_tune_on_a_tiny_corpus_keeps_the_embedder_and_says_why(tiny_encoder: Path, tmp_path: Path) -> None:
    kb = build_kb(tmp_path, {**ZH, **EN}, embedder=SentenceTransformerEmbedder(tiny_encoder))
    version = KnowledgeBase.open(kb).version()
    result = llmapp("kb", "tune", str(kb), "--held-out", "0.3", "--batch-size", "4", "--json", "--quiet",
                    home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["promoted"] is False and report["reason"].startswith("kept the embedder"), report["reason"]
    assert set(report["seconds"]) == {"queries", "negatives", "training", "re-embed", "gate"}
    assert report["queries"]["training"] >= 8 and report["queries"]["held_out"] >= 1
    assert (Path(report["run_dir"]) / "model" / "modules.json").is_file()
    assert (Path(report["run_dir"]) / "adapter" / "adapter_config.json").is_file()  # LoRA by default
    assert KnowledgeBase.open(kb).version() == version
    assert KnowledgeBase.open(kb).manifest.embedder.name == str(tiny_encoder.resolve())


def test_rollback_without_a_previous_tuning_is_a_clear_error(tmp_path: Path) -> None:
    kb = build_kb(tmp_path, EN)
    result = llmapp("kb", "tune", str(kb), "--rollback", home=tmp_path / "home")
    assert result.returncode == 2 and "never tuned" in result.stderr


def test_kb_tune_killed_during_training_resumes_from_its_last_checkpoint(tiny_encoder: Path, tmp_path: Path) -> None:
    """kill -9 while the embedder trains, then the same command again: the run folder (named after the data and
    settings) is found and training goes on from its last checkpoint instead of starting over."""
    import time

    kb = build_kb(tmp_path, {**ZH, **EN}, embedder=SentenceTransformerEmbedder(tiny_encoder))
    home = tmp_path / "home"
    args = ["kb", "tune", str(kb), "--held-out", "0.3", "--batch-size", "4", "--epochs", "40", "--dry-run",
            "--json", "--quiet"]
    env = {**os.environ, "LLMAPP_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen([sys.executable, "-m", "llmapp", *args], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(home.glob("runs/tune-*/checkpoints/checkpoint-*/trainer_state.json")):
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else "exited"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    first.kill()
    first.wait()
    run_dir = next(home.glob("runs/tune-*/checkpoints")).parent
    assert not (run_dir / "metrics.json").exists()  # killed before the end
    result = llmapp(*args, home=home)
    assert result.returncode == 0, result.stderr
    assert Path(json.loads(result.stdout)["run_dir"]) == run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["resumed"], metrics["training"]
