"""`llmapp ingest`, `kb` and `search` end to end through the real console entry point and the default embedder
(the shipped multilingual-e5-small)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def llmapp(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMAPP_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "llmapp", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    (root / "cats.md").write_text("# Cats\n\nCats sleep for most of the day and hunt small animals at night.\n")
    (root / "rust.txt").write_text("Rust programs are compiled ahead of time and manage memory without a GC.\n")
    (root / "zh.txt").write_text("知识库可以增量更新。未修改的文件会被跳过，不会重新计算向量。", encoding="utf-8")
    (root / "bad.txt").write_bytes(b"\x00\x01\x02" * 100)
    return root


def test_ingest_search_info_remove(corpus: Path, tmp_path: Path) -> None:
    first = llmapp("ingest", str(corpus), "--kb", "notes", "--json", "-q", home=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["files_added"] == 3 and report["chunks_added"] == 3
    assert [Path(f["path"]).name for f in report["files_failed"]] == ["bad.txt"]
    assert set(report) >= {"files_added", "files_updated", "files_unchanged", "files_removed", "files_failed",
                           "chunks_added", "chunks_removed", "seconds"}

    again = json.loads(llmapp("ingest", str(corpus), "--kb", "notes", "--json", "-q", home=tmp_path).stdout)
    assert (again["files_unchanged"], again["chunks_added"], again["texts_embedded"]) == (3, 0, 0)

    strict = llmapp("ingest", str(corpus), "--kb", "notes", "--strict", "-q", home=tmp_path)
    assert strict.returncode == 1 and "bad.txt" in strict.stderr

    hits = json.loads(llmapp("search", "Which animal hunts at night?", "--kb", "notes", "-k", "2", "--json",
                             home=tmp_path).stdout)["hits"]
    assert Path(hits[0]["source"]).name == "cats.md"
    assert set(hits[0]) >= {"rank", "score", "text", "source", "doc_id", "chunk_id", "metadata"}
    assert hits[0]["score"] >= hits[1]["score"]

    info = json.loads(llmapp("kb", "info", "notes", "--json", home=tmp_path).stdout)
    assert (info["documents"], info["chunks"], info["vectors"]) == (3, 3, 3)
    assert info["embedder"]["name"] == "e5-small" and info["bytes"] > 0

    assert llmapp("kb", "list", home=tmp_path).stdout.split() == ["notes"]
    removed = llmapp("kb", "remove", "notes", str(corpus / "rust.txt"), home=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(llmapp("kb", "info", "notes", "--json", home=tmp_path).stdout)["documents"] == 2
    assert llmapp("kb", "delete", "notes", "--yes", home=tmp_path).returncode == 0
    assert llmapp("kb", "list", home=tmp_path).stdout.split() == []


def test_nothing_ingested_exits_non_zero(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = llmapp("ingest", str(empty), "--kb", "x", "-q", "--embedder", "hash", home=tmp_path)
    assert result.returncode == 1
    assert "empty" in result.stderr


def test_unknown_kb_is_a_clear_error(tmp_path: Path) -> None:
    result = llmapp("search", "anything", "--kb", "nope", home=tmp_path)
    assert result.returncode == 2
    assert "llmapp ingest" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("source", ["env", "yaml", "flag"])
def test_ingest_takes_the_chunk_overlap_from_env_yaml_and_flag(source: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from llmapp.cli import app

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Cats sleep most of the day. " * 40, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMAPP_CHUNK_OVERLAP", raising=False)
    flags = []
    if source == "env":
        monkeypatch.setenv("LLMAPP_CHUNK_OVERLAP", "7")
    elif source == "yaml":
        (tmp_path / "llmapp.yaml").write_text("chunk_overlap: 7\n", encoding="utf-8")
    else:
        flags = ["--chunk-overlap", "7"]
    args = ["ingest", str(docs), "--kb", str(tmp_path / "kb"), "--embedder", "hash", "-q", "--chunk-tokens", "64"]
    result = CliRunner().invoke(app, args + flags)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "kb" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["chunking"] == {"max_tokens": 64, "overlap_tokens": 7}
    again = CliRunner().invoke(app, args + flags)  # the same setting on an existing knowledge base is no conflict
    assert again.exit_code == 0, again.output
