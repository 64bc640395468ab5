"""AccessGuard against a real server: keys checked before the body, scopes, Host/Origin, CSP, bounded uploads."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from llmapp.errors import ConfigError
from llmapp.generate import FakeGenerator
from llmapp.server import Limits, ServerSettings, create_app
from llmapp.server.auth import required_scope
from llmapp.server.guard import host_name
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, build_hash_kb, running

pytestmark = pytest.mark.e2e

CHAT_KEY = "chat-key-9876543210"
ADMIN = {"Authorization": f"Bearer {API_KEY}"}
CHAT = {"Authorization": f"Bearer {CHAT_KEY}"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("guard") / "home"
    home.mkdir()
    build_hash_kb(home)
    server = ServerSettings(api_key=SecretStr(API_KEY), chat_key=SecretStr(CHAT_KEY),
                            allowed_hosts=("kb.example.org",), limits=Limits(max_concurrent_uploads=1))
    with running(create_app(Settings(home=home), server, generator=FakeGenerator())) as base:
        yield base


def _raw(url: str, head: str, body: bytes = b"", timeout: float = 10.0) -> tuple[socket.socket, bytes]:
    """Send a request head (and the start of a body) on a raw socket; return the socket and the first reply."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.sendall(head.encode() + body)
    return sock, sock.recv(4096)


def _upload_head(url: str, length: int, auth: str = "") -> str:
    host = url.removeprefix("http://")
    return (f"POST /kbs/handbook/documents HTTP/1.1\r\nHost: {host}\r\n{auth}"
            f"Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {length}\r\n\r\n")


def test_an_anonymous_200_mb_upload_is_refused_before_its_body_is_read(url: str) -> None:
    # the old dependency check ran after FastAPI had spooled the whole body: this reply never came
    started = time.monotonic()
    sock, reply = _raw(url, _upload_head(url, 200 * 2**20), b"--XX\r\n" + b"x" * 65536)
    with sock:
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
        assert b"www-authenticate: Bearer" in reply.lower().replace(b"bearer", b"Bearer")
    assert time.monotonic() - started < 5


def test_scopes_the_chat_key_reads_and_chats_but_cannot_write(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/kbs", headers=CHAT).status_code == 200
        assert client.post("/kbs/handbook/search", json={"query": "cats"}, headers=CHAT).status_code == 200
        chat = {"model": "kb:handbook", "messages": [{"role": "user", "content": "Do cats purr?"}]}
        assert client.post("/v1/chat/completions", json=chat, headers=CHAT).status_code == 200
        for method, path in [("POST", "/kbs"), ("DELETE", "/kbs/handbook"), ("POST", "/kbs/handbook/documents"),
                             ("DELETE", "/kbs/handbook/documents/abc")]:
            refused = client.request(method, path, headers=CHAT)
            assert refused.status_code == 403, (method, path)
            assert "admin key" in refused.json()["error"]["message"]
        created = client.post("/kbs", json={"name": "scratch", "embedder": "hash:16"}, headers=ADMIN)
        assert created.status_code == 201
        assert client.delete("/kbs/scratch", headers=ADMIN).status_code == 200


def test_docs_and_openapi_need_a_key(url: str) -> None:
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(url + path).status_code == 401
    assert httpx.get(url + "/openapi.json", headers=CHAT).status_code == 200


def test_a_forged_host_is_refused_and_allowed_hosts_pass(url: str) -> None:
    refused = httpx.get(url + "/kbs", headers={**ADMIN, "Host": "evil.example:8000"})
    assert refused.status_code == 421 and "evil.example" in refused.json()["error"]["message"]
    assert httpx.get(url + "/healthz", headers={"Host": "rebind.attacker.test"}).status_code == 421
    assert httpx.get(url + "/kbs", headers={**ADMIN, "Host": "kb.example.org"}).status_code == 200
    assert httpx.get(url + "/kbs", headers={**ADMIN, "Host": "localhost:1234"}).status_code == 200


def test_cross_site_requests_are_refused(url: str) -> None:
    own = url
    form = {"Origin": "https://evil.example", **ADMIN}
    refused = httpx.post(url + "/kbs", json={"name": "x"}, headers=form)
    assert refused.status_code == 403 and "cross-site" in refused.json()["error"]["message"]
    no_origin = {"Sec-Fetch-Site": "cross-site", **ADMIN}
    assert httpx.post(url + "/kbs", json={"name": "y"}, headers=no_origin).status_code == 403
    same = httpx.post(url + "/kbs/handbook/search", json={"query": "cats"}, headers={"Origin": own, **CHAT})
    assert same.status_code == 200


def test_the_page_has_a_content_security_policy(url: str) -> None:
    page = httpx.get(url + "/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_concurrent_uploads_are_bounded_with_429(url: str) -> None:
    slow, _ = _slow_upload(url)
    with slow:
        files = [("files", ("more.txt", b"more text", "text/plain"))]
        busy = httpx.post(url + "/kbs/handbook/documents", files=files, headers=ADMIN)
        assert busy.status_code == 429 and busy.headers["retry-after"]
    deadline = time.monotonic() + 10
    while (late := httpx.post(url + "/kbs/handbook/documents", files=files, headers=ADMIN)).status_code == 429:
        assert time.monotonic() < deadline, "the upload slot was never released"
        time.sleep(0.1)
    assert late.status_code == 202


def _slow_upload(url: str) -> tuple[socket.socket, None]:
    """An authorised upload whose body is still arriving: it holds the one upload slot."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(_upload_head(url, 10_000, f"Authorization: Bearer {API_KEY}\r\n").encode() + b"--XX\r\n")
    time.sleep(0.3)  # the guard has counted it once the head is parsed
    return sock, None


@pytest.mark.parametrize("method, path, scope", [
    ("GET", "/", "open"), ("GET", "/healthz", "open"), ("GET", "/static/app.js", "open"),
    ("GET", "/kbs", "chat"), ("POST", "/kbs", "admin"), ("GET", "/kbs/a", "chat"), ("DELETE", "/kbs/a", "admin"),
    ("POST", "/kbs/a/search", "chat"), ("POST", "/kbs/a/documents", "admin"), ("GET", "/kbs/a/documents", "chat"),
    ("DELETE", "/kbs/a/documents/d", "admin"), ("GET", "/openapi.json", "chat"), ("GET", "/docs", "chat"),
    ("POST", "/v1/chat/completions", "chat"), ("GET", "/jobs/x", "chat"),
])
def test_required_scope(method: str, path: str, scope: str) -> None:
    assert required_scope(method, path) == scope


@pytest.mark.parametrize("header, name", [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:80", "::1"),
                                          ("Example.COM.", "example.com"), ("localhost", "localhost")])
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_keys_come_from_a_file_not_only_a_flag(tmp_path: Path) -> None:
    from llmapp.cli.serve_cmd import read_key

    file = tmp_path / "key"
    file.write_text("from-a-file-123456\n")
    key = read_key(None, file)
    assert key is not None and key.get_secret_value() == "from-a-file-123456"
    with pytest.raises(ConfigError, match="both"):
        read_key("flag-value-123456", file)
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        read_key(None, tmp_path / "empty")
    with pytest.raises(ConfigError, match="equals"):
        ServerSettings(api_key=SecretStr(API_KEY), chat_key=SecretStr(API_KEY)).check_exposure()
