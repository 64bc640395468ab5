"""`llmapp ingest/search/eval retrieval` with `--kb milvus://...` against a real milvus-lite server."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from llmapp.cli import app
from tests.support.retrieval_fixtures import write_tiny_beir


def _corpus(root: Path) -> Path:
    folder = root / "docs"
    folder.mkdir()
    (folder / "cats.md").write_text("# Cats\n\nCats sleep for most of the day and hunt small animals at night.\n")
    (folder / "zh.txt").write_text("知识库可以增量更新。未修改的文件会被跳过，不会重新计算向量。", encoding="utf-8")
    return folder


def test_ingest_then_search_a_milvus_kb(milvus_endpoint: str, tmp_path: Path) -> None:
    uri = f"milvus://{milvus_endpoint}/cli_notes"
    env = {"LLMAPP_HOME": str(tmp_path / "home")}
    folder = _corpus(tmp_path)
    first = CliRunner().invoke(app, ["ingest", str(folder), "--kb", uri, "--embedder", "hash", "--json", "-q"],
                               env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["files_added"] == 2
    again = CliRunner().invoke(app, ["ingest", str(folder), "--kb", uri, "--json", "-q"], env=env)
    assert json.loads(again.stdout)["texts_embedded"] == 0
    found = CliRunner().invoke(app, ["search", "when do cats hunt", "--kb", uri, "--json", "-k", "1"], env=env)
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["hits"][0]["text"].startswith("# Cats")
    zh = CliRunner().invoke(app, ["search", "增量更新", "--kb", uri, "--json", "--source", "*.txt"], env=env)
    assert Path(json.loads(zh.stdout)["hits"][0]["source"]).name == "zh.txt"


def test_a_nameless_ingest_creates_nothing(milvus_endpoint: str, tmp_path: Path) -> None:
    from ingest.milvus import MilvusKnowledgeBase

    uri = f"milvus://{milvus_endpoint}/cli_empty"
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02" * 100)
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "bad.txt"), "--kb", uri, "--embedder", "hash", "-q"],
                                env={"LLMAPP_HOME": str(tmp_path / "home")})
    assert result.exit_code == 1
    assert not MilvusKnowledgeBase.exists(uri)


def test_eval_retrieval_on_milvus_equals_the_local_store(milvus_endpoint: str, tmp_path: Path) -> None:
    folder = write_tiny_beir(tmp_path / "beir", queries=3)
    env = {"LLMAPP_HOME": str(tmp_path / "home"), "LLMAPP_EMBEDDER": "hash:64"}
    args = ["eval", "retrieval", "--beir", str(folder), "--split", "dev", "--compare", "--json"]
    local = CliRunner().invoke(app, args, env=env)
    remote = CliRunner().invoke(app, [*args, "--kb-uri", f"milvus://{milvus_endpoint}/cli_eval"], env=env)
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == json.loads(local.stdout)
