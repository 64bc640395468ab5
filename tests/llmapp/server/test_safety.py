"""Exposure rules, API keys, readers during an ingest job, and the OpenAPI schema."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from llmapp.errors import ConfigError
from llmapp.generate import ExtractiveGenerator, FakeGenerator
from llmapp.server import ServerSettings, create_app, is_loopback
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, build_hash_kb, running, sse_events, wait_job

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                            ("example.com", False), ("::", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_rules() -> None:
    ServerSettings(host="127.0.0.1", no_auth=True).check_exposure()
    with pytest.raises(ConfigError, match="--no-auth"):  # keyless only when asked for
        ServerSettings(host="127.0.0.1").check_exposure()
    ServerSettings(host="0.0.0.0", api_key=SecretStr(API_KEY)).check_exposure()
    with pytest.raises(ConfigError, match="LLMAPP_API_KEY"):
        ServerSettings(host="0.0.0.0").check_exposure()
    with pytest.raises(ConfigError, match="loopback"):
        ServerSettings(host="0.0.0.0", no_auth=True, api_key=None).check_exposure()
    with pytest.raises(ConfigError, match="contradict"):
        ServerSettings(no_auth=True, api_key=SecretStr(API_KEY)).check_exposure()
    with pytest.raises(ConfigError, match="too short"):
        ServerSettings(api_key=SecretStr("short")).check_exposure()


def test_api_key_is_required_everywhere_but_healthz_and_the_page(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path), ServerSettings(api_key=SecretStr(API_KEY)), generator=FakeGenerator())
    with running(app) as url:
        assert httpx.get(url + "/healthz").status_code == 200
        assert httpx.get(url + "/").status_code == 200 and "llmapp" in httpx.get(url + "/").text
        assert httpx.get(url + "/static/app.js").status_code == 200
        for method, path in [("GET", "/kbs"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                             ("POST", "/v1/embeddings"), ("GET", "/jobs/x"), ("POST", "/kbs/x/search"),
                             ("DELETE", "/kbs/x"), ("POST", "/kbs/x/documents")]:
            for headers in ({}, {"Authorization": "Bearer wrong-key-0000000"}, {"Authorization": API_KEY},
                            {"Authorization": f"Basic {API_KEY}"}):
                response = httpx.request(method, url + path, headers=headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.json()["error"]["type"] == "unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"
        ok = httpx.get(url + "/kbs", headers={"Authorization": f"Bearer {API_KEY}"})
        assert ok.status_code == 200


def test_plain_chat_with_a_language_model_backend(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path), ServerSettings(no_auth=True),
                     generator=FakeGenerator(replies=["Hello there!"]))
    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/healthz").json()["auth"] is False
        with client.stream("POST", "/v1/chat/completions", json={
                "model": "fake", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}) as response:
            events = sse_events(response)
        text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
        assert text == "Hello there!" and events[-1] == "[DONE]"


def test_readers_answer_from_the_last_commit_while_an_ingest_job_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    app = create_app(Settings(home=home), ServerSettings(no_auth=True), generator=ExtractiveGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = client.get("/kbs/handbook").json()["chunks"]
        big = "\n\n".join(f"Paragraph {i} talks about topic {i} and otters number {i}." for i in range(3000))
        files = [("files", (f"big{i}.txt", big.encode(), "text/plain")) for i in range(3)]
        job = client.post("/kbs/handbook/documents", files=files).json()["job"]
        errors: list[str] = []
        seen: set[int] = set()
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                hits = client.post("/kbs/handbook/search", json={"query": "when do cats hunt", "k": 3})
                chat = client.post("/v1/chat/completions", json={
                    "model": "kb:handbook", "messages": [{"role": "user", "content": "When do cats hunt?"}]})
                if hits.status_code != 200 or chat.status_code != 200 or "dusk" not in hits.text:
                    errors.append(f"{hits.status_code} {chat.status_code} {hits.text[:200]}")
                seen.add(client.get("/kbs/handbook").json()["chunks"])

        readers = [threading.Thread(target=read) for _ in range(3)]
        for reader in readers:
            reader.start()
        done = wait_job(client, job["id"], timeout=120)
        stop.set()
        for reader in readers:
            reader.join()
        assert done["status"] == "succeeded" and done["progress"]["done"] == 3
        assert errors == []
        after = client.get("/kbs/handbook").json()["chunks"]
        assert after > before and seen <= {before} | set(range(before, after + 1))
        hits = client.post("/kbs/handbook/search", json={"query": "otters number 2999", "k": 1}).json()["hits"]
        assert hits and "2999" in hits[0]["text"]


def test_openapi_schema_is_valid(tmp_path: Path) -> None:
    from openapi_spec_validator import validate

    app = create_app(Settings(home=tmp_path), ServerSettings(no_auth=True), generator=FakeGenerator())
    schema = app.openapi()
    validate(schema)
    assert {"/v1/chat/completions", "/v1/models", "/v1/embeddings", "/kbs", "/kbs/{kb}", "/kbs/{kb}/documents",
            "/kbs/{kb}/documents/{doc}", "/kbs/{kb}/search", "/jobs/{job_id}", "/healthz"} <= set(schema["paths"])


@pytest.mark.parametrize("raw, safe", [
    ("../../etc/passwd.txt", "passwd.txt"), ("..\\..\\boot.ini.md", "boot.ini.md"), ("/abs/path/a.pdf", "a.pdf"),
    (".hidden.txt", "hidden.txt"), ("..", "upload"), ("", "upload"), ("报销 制度(2024).docx", "报销 制度(2024).docx"),
    ("a\x00b\nc.txt", "abc.txt"), ("x;rm -rf $HOME`.md", "x_rm -rf _HOME.md"),
    ("a" * 300 + ".txt", "a" * 116 + ".txt"),
])
def test_sanitise_name(raw: str, safe: str) -> None:
    from llmapp.server.uploads import sanitise_name

    assert sanitise_name(raw) == safe


def test_serve_refuses_an_exposed_server_without_a_key(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLMAPP_HOME": str(tmp_path)}
    env.pop("LLMAPP_API_KEY", None)
    result = subprocess.run([sys.executable, "-m", "llmapp", "serve", "--host", "0.0.0.0", "--backend", "fake"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 2 and "--api-key" in result.stderr
    result = subprocess.run([sys.executable, "-m", "llmapp", "serve", "--host", "0.0.0.0", "--no-auth"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 2 and "loopback" in result.stderr
