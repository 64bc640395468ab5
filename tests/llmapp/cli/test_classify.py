"""`llmapp classify` end to end in process: summary JSON, int8 agreement report, option errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmapp.cli import app
from tests.support.classify_fixtures import LABELS, save_folder, sentences


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_folder(tmp_path_factory.mktemp("tiny-cls"))


def test_cli_int8_summary_and_threshold(folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(40)) + '{"text": ""}\n')
    result = CliRunner().invoke(app, ["classify", str(source), "-o", str(tmp_path / "out.csv"), "--model",
                                      str(folder), "--int8", "--threshold", "0.2", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["ok"], summary["errors"]) == (41, 40, 1)
    assert summary["extra"]["int8"] is True and summary["extra"]["int8_sample"] == 40
    assert 0.9 <= summary["extra"]["int8_agreement"] <= 1.0
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text,label,score,labels,status,error" and len(lines) == 42
    assert all(part in LABELS for part in lines[1].split(",")[3].split("|"))


def test_cli_needs_exactly_one_model_source(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("text\nhello\n")
    for extra in ([], ["--model", str(folder), "--labels", "a,b"]):
        result = CliRunner().invoke(app, ["classify", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"),
                                          *extra])
        assert result.exit_code != 0
        assert "exactly one of --model" in str(result.exception)


def test_cli_bf16_reports_agreement(folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(30, seed=5)))
    result = CliRunner().invoke(app, ["classify", str(source), "-o", str(tmp_path / "out.jsonl"), "--model",
                                      str(folder), "--bf16", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["extra"]["bf16"] is True and summary["extra"]["bf16_sample"] == 30
    assert 0.9 <= summary["extra"]["bf16_agreement"] <= 1.0
    both = CliRunner().invoke(app, ["classify", str(source), "-o", str(tmp_path / "o2.jsonl"), "--model",
                                    str(folder), "--bf16", "--int8"])
    assert both.exit_code != 0 and "give one of them" in str(both.exception)


def test_bf16_twin_shares_weights_and_agrees(folder: Path) -> None:
    from llmapp.classify import Classifier

    exact = Classifier.from_pretrained(folder)
    fast = exact.bfloat16()
    assert fast.model is exact.model and fast.bf16 and not exact.bf16
    texts = sentences(50, seed=9)
    a, b = exact.scores(texts), fast.scores(texts)
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.9
    assert abs(a - b).max() < 0.1


def test_paths_are_checked_before_the_model_loads(tmp_path: Path) -> None:
    missing_model = str(tmp_path / "no-such-model")
    (tmp_path / "in.csv").write_text("text\nhello\n")
    (tmp_path / "taken.csv").write_text("text,label\n")
    cases = [
        ([str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.csv")], "does not exist"),
        ([str(tmp_path / "in.csv"), "-o", str(tmp_path / "taken.csv")], "pass --overwrite"),
        ([str(tmp_path / "in.csv"), "-o", str(tmp_path / "no-dir" / "o.csv")], "folder"),
        ([str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.xlsx")], "unknown format"),
        ([str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"), "--text-column", "body"], "no column 'body'"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, ["classify", *args, "--model", missing_model, "--no-progress"])
        assert result.exit_code != 0
        assert message in str(result.exception), (args, result.exception)


def test_exit_code_is_non_zero_when_no_row_is_labelled(folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": ""}\n{"text": "   "}\n{"other": "x"}\n')
    result = CliRunner().invoke(app, ["classify", str(source), "-o", str(tmp_path / "out.jsonl"), "--model",
                                      str(folder), "--no-progress"])
    assert result.exit_code == 1
    assert "no row was labelled" in result.output
    assert [json.loads(line)["status"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == \
        ["error"] * 3
