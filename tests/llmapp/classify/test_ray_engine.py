"""`--engine ray`: the classifier on Ray Data actors (a real local Ray with 2 CPUs) gives the local engine's
output byte for byte, with 1 or 2 actors, and keeps the resume guarantee after the driver is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmapp.classify import Classifier, OutputSpec, classify_file
from tests.llmapp.classify.test_files import read_table, write_table
from tests.support.classify_fixtures import save_folder, sentences

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield str(context.address_info["address"])
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_folder(tmp_path_factory.mktemp("tiny-cls"))


def _input(path: Path, n: int) -> Path:
    rows: list[dict[str, Any]] = [{"id": str(i), "text": t} for i, t in enumerate(sentences(n, seed=3))]
    rows[5]["text"] = ""  # bad rows travel through the actors as error records, in place
    rows[9] = {"id": "9"}
    write_table(path, rows)
    with path.open("a", encoding="utf-8") as out:
        out.write("not json\n")
    return path


@pytest.mark.parametrize("actors", [1, 2])
def test_ray_output_equals_local_output(cluster: str, folder: Path, tmp_path: Path, actors: int) -> None:
    from llmapp.classify.ray_engine import ray_engine

    source = _input(tmp_path / "in.jsonl", 700)
    classifier = Classifier.from_pretrained(folder)
    spec = OutputSpec(text_column="text", top_k=2)
    local = classify_file(classifier, source, tmp_path / "local.csv", spec, {}, batch_size=16, window=100)
    engine = ray_engine(classifier, spec, batch_size=16, window=100, actors=actors)
    remote = classify_file(classifier, source, tmp_path / "ray.csv", spec, {}, batch_size=16, window=100,
                           engine=engine)
    _assert_same_predictions(tmp_path / "ray.csv", tmp_path / "local.csv")
    assert (remote.rows, remote.ok, remote.errors) == (local.rows, local.ok, local.errors) == (701, 698, 3)
    assert remote.error_kinds == local.error_kinds


def _assert_same_predictions(remote: Path, local: Path) -> None:
    """Same rows, ids, labels and statuses in the same order; scores agree to 1e-5 (an actor's torch may use
    another thread count than the driver, which changes the last digit of a float sum)."""
    theirs, ours = read_table(remote), read_table(local)
    assert [list(row) for row in theirs] == [list(row) for row in ours]
    for a, b in zip(theirs, ours, strict=True):
        scores = [key for key in b if key.startswith("score")]
        assert {k: v for k, v in a.items() if k not in scores} == {k: v for k, v in b.items() if k not in scores}
        for key in scores:
            assert (a[key] == b[key]) or abs(float(a[key]) - float(b[key])) <= 1e-5, (key, a, b)


def _cli(folder: Path, source: Path, out: Path, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llmapp", "classify", str(source), "-o", str(out), "--model", str(folder),
            "--id-column", "id", "--batch-size", "8", "--window", "32", "--no-progress", "--engine", "ray",
            "--address", address, *extra]


def test_ray_resume_after_driver_sigkill_gives_each_row_exactly_once(
    cluster: str, folder: Path, tmp_path: Path
) -> None:
    n = 4000
    write_table(tmp_path / "in.csv", [{"id": str(i), "text": t} for i, t in enumerate(sentences(n, seed=4))])
    out, progress = tmp_path / "out.csv", tmp_path / "out.csv.progress.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(_cli(folder, tmp_path / "in.csv", out, cluster), env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and child.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["rows_done"] >= 256:
            break
        time.sleep(0.05)
    assert child.poll() is None, f"the run ended before it could be killed: {child.stderr.read()!r}"  # type: ignore[union-attr]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not out.exists() and (tmp_path / "out.csv.partial").exists()
    done = subprocess.run(_cli(folder, tmp_path / "in.csv", out, cluster, "--resume", "--json"), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["resumed_from"] >= 256 and summary["rows"] == n and summary["complete"]
    assert summary["extra"]["engine"] == "ray"
    rows = read_table(out)
    assert [r["id"] for r in rows] == [str(i) for i in range(n)]
    assert all(r["status"] == "ok" for r in rows)
    expected = Classifier.from_pretrained(folder).predict([r["text"] for r in rows], batch_size=8)
    assert [r["label"] for r in rows] == [p.label for p in expected]
