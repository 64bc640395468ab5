"""The HTTP API against a real uvicorn server: knowledge bases, documents, jobs, search, chat, embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from llmapp.generate import ExtractiveGenerator
from llmapp.server import Limits, ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, build_hash_kb, running, sse_events, wait_job

pytestmark = pytest.mark.e2e

LIMITS = Limits(max_file_bytes=4096, max_upload_bytes=64 * 1024, max_files=3, max_body_bytes=8192,
                max_tokens=256, max_k=20, max_embedding_inputs=8)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("server") / "home"
    home.mkdir()
    build_hash_kb(home)
    return home


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[httpx.Client]:
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY), limits=LIMITS),
                     generator=ExtractiveGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=60,
                                           headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        yield http


def _ask(client: httpx.Client, question: str, **extra: Any) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": "kb:handbook", "messages": [
        {"role": "user", "content": question}], **extra})


def test_healthz_is_open(client: httpx.Client) -> None:
    response = httpx.get(f"{client.base_url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["auth"] is True


def test_list_and_info(client: httpx.Client) -> None:
    assert {"name": "handbook", "busy": False} in client.get("/kbs").json()["knowledge_bases"]
    info = client.get("/kbs/handbook").json()
    assert info["name"] == "handbook" and info["files"] == 3 and info["chunks"] >= 3
    assert "path" not in info and "path" not in info["embedder"]
    missing = client.get("/kbs/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"


def test_search_returns_the_clis_hits(client: httpx.Client) -> None:
    response = client.post("/kbs/handbook/search", json={"query": "when do cats hunt", "k": 2})
    assert response.status_code == 200
    hits = response.json()["hits"]
    assert hits[0]["source"].endswith("cats.txt") and "dusk" in hits[0]["text"]
    assert set(hits[0]) >= {"rank", "score", "text", "source", "doc_id", "chunk_id", "span", "metadata"}
    zh = client.post("/kbs/handbook/search", json={"query": "熊猫吃什么", "k": 1}).json()["hits"]
    assert "竹子" in zh[0]["text"]
    filtered = client.post("/kbs/handbook/search", json={"query": "cats", "filters": {"source": "*.md"}}).json()
    assert all(hit["source"].endswith(".md") for hit in filtered["hits"])


def test_search_rejects_bad_requests(client: httpx.Client) -> None:
    assert client.post("/kbs/handbook/search", json={"query": ""}).status_code == 422
    assert client.post("/kbs/handbook/search", json={"query": "x", "k": 21}).status_code == 400
    unknown = client.post("/kbs/handbook/search", json={"query": "x", "filter": {}})
    assert unknown.status_code == 422 and "filter" in unknown.json()["error"]["message"]


def test_chat_with_citations(client: httpx.Client) -> None:
    response = _ask(client, "Does llmapp need a GPU?")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "stop"
    text = body["choices"][0]["message"]["content"]
    assert "CPU" in text and "[1]" in text
    citation = body["citations"][0]
    assert citation["n"] == 1 and citation["source"].endswith("install.md") and "CPU" in citation["text"]
    assert body["llmapp"]["answered"] is True and body["usage"]["completion_tokens"] > 0


def test_chat_streams_openai_chunks_and_citations(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/chat/completions", json={
            "model": "kb:handbook", "stream": True,
            "messages": [{"role": "user", "content": "熊猫吃什么？"}]}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "竹子" in text
    assert len([c for c in chunks if c["choices"][0]["delta"].get("content")]) > 1  # streamed in pieces
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["citations"][0]["source"].endswith("熊猫.txt")


def test_chat_follow_up_uses_the_conversation(client: httpx.Client) -> None:
    body = client.post("/v1/chat/completions", json={"model": "kb:handbook", "messages": [
        {"role": "user", "content": "When do cats hunt?"},
        {"role": "assistant", "content": "At dusk [1]."},
        {"role": "user", "content": "and do they purr?"}]}).json()
    assert body["llmapp"]["standalone_question"] == "When do cats hunt? and do they purr?"
    assert body["citations"][0]["source"].endswith("cats.txt")


def test_chat_limits_and_models(client: httpx.Client) -> None:
    assert _ask(client, "hi", max_tokens=257).status_code == 400
    assert _ask(client, "hi", k=21).status_code == 400
    wrong = client.post("/v1/chat/completions", json={"model": "gpt-4", "messages": [
        {"role": "user", "content": "hi"}]})
    assert wrong.status_code == 404 and wrong.json()["error"]["type"] == "model_not_found"
    assert client.post("/v1/chat/completions", json={"model": "kb:handbook", "messages": []}).status_code == 422
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert "kb:handbook" in ids and "extractive" in ids


def test_plain_model_chat(client: httpx.Client) -> None:
    body = client.post("/v1/chat/completions", json={"model": "extractive", "messages": [
        {"role": "system", "content": "Paris is the capital of France. Berlin is in Germany."},
        {"role": "user", "content": "What is the capital of France?"}]}).json()
    assert "Paris" in body["choices"][0]["message"]["content"] and body["citations"] == []


def test_embeddings_use_the_kbs_embedder(client: httpx.Client) -> None:
    body = client.post("/v1/embeddings", json={"model": "kb:handbook", "input": ["cats", "熊猫"]}).json()
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == 64
    assert client.post("/v1/embeddings", json={"model": "kb:handbook", "input": ["x"] * 9}).status_code == 400


def test_upload_search_replace_and_delete_document(client: httpx.Client, home: Path) -> None:
    created = client.post("/kbs", json={"name": "notes", "embedder": "hash"})
    assert created.status_code == 201 and created.json()["files"] == 0
    assert client.post("/kbs", json={"name": "notes", "embedder": "hash"}).status_code == 409
    files = [("files", ("a.txt", b"Otters hold hands while they sleep.", "text/plain")),
             ("files", ("b.md", "# 水獭\n\n水獭睡觉时手拉手。".encode(), "text/markdown"))]
    response = client.post("/kbs/notes/documents", files=files)
    assert response.status_code == 202
    job = wait_job(client, response.json()["job"]["id"])
    assert job["status"] == "succeeded" and job["progress"]["done"] == 2 and job["result"]["files_added"] == 2
    hits = client.post("/kbs/notes/search", json={"query": "otters sleep", "k": 1}).json()["hits"]
    assert hits[0]["source"] == "uploads/a.txt"
    again = client.post("/kbs/notes/documents", files=[("files", ("a.txt", b"Otters eat sea urchins.", "text/plain"))])
    job = wait_job(client, again.json()["job"]["id"])
    assert job["result"]["files_updated"] == 1 and job["result"]["chunks_removed"] >= 1
    documents = client.get("/kbs/notes/documents").json()["documents"]
    assert sorted(d["source"] for d in documents) == ["uploads/a.txt", "uploads/b.md"]
    doc = next(d for d in documents if d["name"] == "a.txt")
    removal = client.delete(f"/kbs/notes/documents/{doc['id']}")
    assert wait_job(client, removal.json()["job"]["id"])["status"] == "succeeded"
    assert [d["name"] for d in client.get("/kbs/notes/documents").json()["documents"]] == ["b.md"]
    assert not (home / "notes" / "uploads" / "a.txt").exists()
    assert client.delete("/kbs/notes/documents/0123456789abcdef").status_code == 404
    assert client.delete("/kbs/notes").status_code == 200
    assert not (home / "notes").exists()
    assert client.get("/kbs/notes").status_code == 404


def test_traversal_names_land_inside_the_kb(client: httpx.Client, home: Path) -> None:
    client.post("/kbs", json={"name": "safe", "embedder": "hash"})
    files = [("files", ("../../etc/passwd.txt", b"root is not here", "text/plain")),
             ("files", ("..\\..\\win.ini.md", b"# nothing", "text/plain"))]
    response = client.post("/kbs/safe/documents", files=files)
    assert response.status_code == 202
    assert response.json()["files"] == ["passwd.txt", "win.ini.md"]
    wait_job(client, response.json()["job"]["id"])
    assert (home / "safe" / "uploads" / "passwd.txt").read_bytes() == b"root is not here"
    assert not (home.parent / "etc").exists()
    for bad in ("..", ".hidden", "a/b", "cache"):
        assert client.post("/kbs", json={"name": bad}).status_code == 400


def test_upload_limits(client: httpx.Client) -> None:
    client.post("/kbs", json={"name": "limits", "embedder": "hash"})
    big = client.post("/kbs/limits/documents", files=[("files", ("big.txt", b"x" * 5000, "text/plain"))])
    assert big.status_code == 413 and "max_file_bytes" in big.json()["error"]["message"]
    many = client.post("/kbs/limits/documents",
                       files=[("files", (f"{i}.txt", b"x", "text/plain")) for i in range(4)])
    assert many.status_code == 413 and "max_files" in many.json()["error"]["message"]
    kind = client.post("/kbs/limits/documents", files=[("files", ("run.exe", b"MZ", "application/octet-stream"))])
    assert kind.status_code == 415
    huge = client.post("/kbs/limits/documents", files=[("files", ("h.txt", b"x" * 70_000, "text/plain"))])
    assert huge.status_code == 413 and "max_upload_bytes" in huge.json()["error"]["message"]
    body = client.post("/kbs/handbook/search", content=b'{"query": "' + b"x" * 9000 + b'"}',
                       headers={"content-type": "application/json"})
    assert body.status_code == 413 and body.json()["error"]["type"] == "too_large"


def test_chunked_body_over_the_limit_is_cut(client: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(20):
            yield b"y" * 1000
        yield b'"}'

    response = client.post("/kbs/handbook/search", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_jobs(client: httpx.Client) -> None:
    assert client.get("/jobs/nope").status_code == 404
    assert isinstance(client.get("/jobs").json()["jobs"], list)


def test_errors_have_one_shape_and_no_internals(client: httpx.Client) -> None:
    for response in (client.get("/kbs/nope"), client.post("/kbs/handbook/search", content=b"{not json",
                                                          headers={"content-type": "application/json"}),
                     client.get("/no/such/route"), client.put("/kbs")):
        error = response.json()["error"]
        assert set(error) == {"type", "message"} and response.status_code >= 400
        assert "Traceback" not in error["message"] and "/tmp" not in error["message"]


def test_knowledge_base_chats_get_the_qa_stops_plain_chats_do_not() -> None:
    from llmapp.chains.qa import QA_OPTIONS
    from llmapp.server.chat import generation_options
    from llmapp.server.schemas import ChatRequest

    messages = [{"role": "user", "content": "hi"}]
    grounded = generation_options(ChatRequest(model="kb:docs", messages=messages), 512, grounded=True)
    assert grounded.stop == QA_OPTIONS.stop and grounded.repetition_penalty == QA_OPTIONS.repetition_penalty
    plain = generation_options(ChatRequest(model="m", messages=messages), 512)
    assert plain.stop == () and plain.repetition_penalty == 1.0
    own = generation_options(ChatRequest(model="kb:docs", messages=messages, stop="END"), 512, grounded=True)
    assert own.stop == ("END",)


def test_no_absolute_server_path_in_answers(client: httpx.Client, home: Path) -> None:
    outside = str(home.parent)  # the handbook's files were ingested from a folder beside the home
    documents = client.get("/kbs/handbook/documents").json()["documents"]
    hits = client.post("/kbs/handbook/search", json={"query": "cats", "k": 3}).json()["hits"]
    answer = _ask(client, "Do cats sleep?").json()
    shown = [d["source"] for d in documents] + [h["source"] for h in hits] + \
        [c["source"] for c in answer["citations"]]
    assert shown and all(not s.startswith("/") and outside not in s for s in shown), shown
    assert sorted(d["source"] for d in documents) == ["cats.txt", "install.md", "熊猫.txt"]


def test_sources_are_shown_relative_to_the_base_or_the_home(tmp_path: Path) -> None:
    from llmapp.server.knowledge import KnowledgeBases

    kbs = KnowledgeBases(Settings(home=tmp_path))
    assert kbs.display_source("kb", str(tmp_path / "kb" / "uploads" / "a.md")) == "uploads/a.md"
    assert kbs.display_source("kb", str(tmp_path / "shared" / "b.md")) == "$LLMAPP_HOME/shared/b.md"
    assert kbs.display_source("kb", "/srv/private/c.md") == "c.md"
