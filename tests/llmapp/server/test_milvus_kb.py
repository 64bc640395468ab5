"""The server serves a Milvus knowledge base (real milvus-lite) named in `remote_kbs` like a local one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from ingest.embed import HashEmbedder
from ingest.pipeline import IngestOptions, ingest
from llmapp.generate.extractive import ExtractiveGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, DOCS, build_hash_kb, running


@pytest.fixture(scope="module")
def client(milvus_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("served")
    home = root / "home"
    home.mkdir()
    build_hash_kb(home)  # a local one next to the remote one
    folder = root / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    uri = f"milvus://{milvus_endpoint}/served"
    ingest(uri, [folder], HashEmbedder(64), IngestOptions(progress=False))
    settings = Settings(home=home, remote_kbs={"cluster": uri, "absent": f"milvus://{milvus_endpoint}/absent"})
    app = create_app(settings, ServerSettings(api_key=SecretStr(API_KEY)), generator=ExtractiveGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=60,
                                           headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        yield http


def test_lists_and_describes_the_milvus_kb(client: httpx.Client) -> None:
    names = [kb["name"] for kb in client.get("/kbs").json()["knowledge_bases"]]
    assert "cluster" in names and "handbook" in names and "absent" not in names
    info = client.get("/kbs/cluster").json()
    assert info["backend"] == "milvus" and info["files"] == len(DOCS)
    documents = client.get("/kbs/cluster/documents").json()["documents"]
    assert sorted(d["name"] for d in documents) == sorted(DOCS)


def test_search_and_chat_answer_from_milvus_as_from_the_local_copy(client: httpx.Client) -> None:
    for query in ("when do cats hunt", "熊猫吃什么", "does llmapp need a GPU"):
        remote = client.post("/kbs/cluster/search", json={"query": query, "k": 3}).json()["hits"]
        local = client.post("/kbs/handbook/search", json={"query": query, "k": 3}).json()["hits"]
        assert [h["text"] for h in remote] == [h["text"] for h in local]
    answer = client.post("/v1/chat/completions", json={"model": "kb:cluster", "messages": [
        {"role": "user", "content": "When do cats hunt?"}]}).json()
    assert "dusk" in answer["choices"][0]["message"]["content"]


def test_uploads_and_deletes_are_refused_with_a_way_out(client: httpx.Client) -> None:
    upload = client.post("/kbs/cluster/documents", files={"files": ("a.txt", b"hello", "text/plain")})
    assert upload.status_code == 400 and "llmapp ingest" in upload.json()["error"]["message"]
    assert client.delete("/kbs/cluster").status_code == 400
    assert client.get("/kbs/absent").status_code == 404
