"""File classification: formats in and out, bad rows, refusing to clobber, resume after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llmapp.classify import Classifier, OutputSpec, classify_file
from llmapp.errors import ConfigError
from tests.support.classify_fixtures import LABELS, save_folder, sentences


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_folder(tmp_path_factory.mktemp("tiny-cls"))


@pytest.fixture(scope="module")
def classifier(folder: Path) -> Classifier:
    return Classifier.from_pretrained(folder)


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writeheader()
        writer.writerows(rows)


def read_table(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))


@pytest.mark.parametrize(("source", "target"), [(".csv", ".jsonl"), (".tsv", ".csv"), (".jsonl", ".tsv")])
def test_formats_keep_columns_and_add_predictions(
    classifier: Classifier, tmp_path: Path, source: str, target: str
) -> None:
    texts = sentences(50, seed=11)
    rows = [{"id": str(i), "text": t, "note": "n, \"quoted\"\tx"} for i, t in enumerate(texts)]
    write_table(tmp_path / f"in{source}", rows)
    spec = OutputSpec(text_column="text", id_column="id", top_k=2)
    summary = classify_file(classifier, tmp_path / f"in{source}", tmp_path / f"out{target}", spec, {},
                            batch_size=4, window=16)
    out = read_table(tmp_path / f"out{target}")
    expected = classifier.predict(texts)
    assert summary.complete and summary.rows == summary.ok == 50 and summary.errors == 0
    assert [r["id"] for r in out] == [str(i) for i in range(50)]
    assert [r["note"] for r in out] == [row["note"] for row in rows]
    assert [r["label"] for r in out] == [p.label for p in expected]
    assert all(r["label_1"] == r["label"] and r["label_2"] in LABELS for r in out)
    assert abs(float(out[0]["score"]) - expected[0].score) < 1e-5
    assert not (tmp_path / f"out{target}.progress.json").exists()


def test_parquet_in_and_out(classifier: Classifier, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    texts = sentences(40, seed=2)
    pq.write_table(pa.table({"text": texts, "n": list(range(40))}), tmp_path / "in.parquet")
    classify_file(classifier, tmp_path / "in.parquet", tmp_path / "out.parquet", OutputSpec("text"), {},
                  window=16)
    out = read_table(tmp_path / "out.parquet")
    assert [r["label"] for r in out] == [p.label for p in classifier.predict(texts)]
    assert isinstance(out[0]["score"], float)


def test_bad_rows_are_reported_not_fatal(classifier: Classifier, tmp_path: Path) -> None:
    lines = [b'{"text": "invoice refund"}', b'{"other": "no text"}', b'{"text": ""}', b'{"text": 42}',
             b'{"text": "caf\xe9 latte"}', b"{not json", b'["a list"]', b'{"text": "parcel late"}']
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    summary = classify_file(classifier, tmp_path / "in.jsonl", tmp_path / "out.jsonl", OutputSpec("text"), {})
    out = read_table(tmp_path / "out.jsonl")
    assert [r["status"] for r in out] == ["ok", "error", "error", "error", "error", "error", "error", "ok"]
    assert (summary.ok, summary.errors) == (2, 6)
    assert summary.error_kinds == {"missing column 'text'": 1, "empty text": 1, "not text": 1,
                                   "undecodable bytes": 1, "invalid JSON": 1, "a JSON list, not an object": 1}


def test_undecodable_csv_cell_and_short_row(classifier: Classifier, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(b"id,text\n1,good parcel\n2,bad \xff\xfe bytes\n3\n4,   \n5,refund\n")
    summary = classify_file(classifier, tmp_path / "in.csv", tmp_path / "out.csv", OutputSpec("text"), {})
    out = read_table(tmp_path / "out.csv")
    assert [r["status"] for r in out] == ["ok", "error", "error", "error", "ok"]
    assert out[1]["text"] == "bad \ufffd\ufffd bytes"  # written as valid UTF-8
    assert (summary.ok, summary.errors) == (2, 3)


def test_refuses_to_clobber_and_names_missing_column(classifier: Classifier, tmp_path: Path) -> None:
    write_table(tmp_path / "in.csv", [{"body": "x"}])
    with pytest.raises(ConfigError, match="--text-column"):
        classify_file(classifier, tmp_path / "in.csv", tmp_path / "out.csv", OutputSpec("text"), {})
    write_table(tmp_path / "in.csv", [{"text": "x"}])
    classify_file(classifier, tmp_path / "in.csv", tmp_path / "out.csv", OutputSpec("text"), {})
    with pytest.raises(ConfigError, match="--overwrite"):
        classify_file(classifier, tmp_path / "in.csv", tmp_path / "out.csv", OutputSpec("text"), {})
    classify_file(classifier, tmp_path / "in.csv", tmp_path / "out.csv", OutputSpec("text"), {}, overwrite=True)


def _cli(folder: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llmapp", "classify", str(source), "-o", str(out), "--model", str(folder),
            "--text-column", "text", "--id-column", "id", "--batch-size", "8", "--window", "64", "--no-progress",
            *extra]


def test_resume_after_sigkill_gives_each_row_exactly_once(folder: Path, tmp_path: Path) -> None:
    n = 3000
    write_table(tmp_path / "in.csv", [{"id": str(i), "text": t} for i, t in enumerate(sentences(n, seed=4))])
    out = tmp_path / "out.csv"
    progress = tmp_path / "out.csv.progress.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(_cli(folder, tmp_path / "in.csv", out), env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["rows_done"] >= 256:
            break
        time.sleep(0.05)
    assert child.poll() is None, f"the run ended before it could be killed: {child.stderr.read()!r}"  # type: ignore[union-attr]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not out.exists() and (tmp_path / "out.csv.partial").exists()
    done = subprocess.run(_cli(folder, tmp_path / "in.csv", out, "--resume", "--json"), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["resumed_from"] >= 256 and summary["rows"] == n and summary["complete"]
    rows = read_table(out)
    assert [r["id"] for r in rows] == [str(i) for i in range(n)]
    assert all(r["status"] == "ok" for r in rows)
    assert not (tmp_path / "out.csv.partial").exists() and not progress.exists()


def test_resume_refuses_a_model_folder_whose_weights_changed(tmp_path: Path) -> None:
    model = save_folder(tmp_path / "model")
    write_table(tmp_path / "in.csv", [{"id": str(i), "text": t} for i, t in enumerate(sentences(3000, seed=5))])
    out, progress = tmp_path / "out.csv", tmp_path / "out.csv.progress.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(_cli(model, tmp_path / "in.csv", out), env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child.poll() is None and not progress.exists():
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert progress.exists(), f"no partial run to resume: {child.stderr.read()!r}"  # type: ignore[union-attr]
    weights = next(model.glob("*.safetensors"))  # new weights at the same path: the last parameters change
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    done = subprocess.run(_cli(model, tmp_path / "in.csv", out, "--resume"), env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert "model.weights_sha256 changed" in done.stderr and "--overwrite" in done.stderr
