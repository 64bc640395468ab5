"""The hostile-input suite against a real server: each file is refused or contained with a clear message, and
the server stays up. (The unauthenticated 200 MB upload and the forged Host are in test_guard.py, the injected
passage in tests/llmapp/chains/test_injection.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from ingest.embed import HashEmbedder
from llmapp.generate import FakeGenerator
from llmapp.server import Limits, ServerSettings, create_app
from llmapp.server.jobs import Job
from llmapp.server.uploads import ingest_step
from llmapp.settings import Settings
from tests.support.hostile_files import bomb_docx, many_pages_pdf, nested_html
from tests.support.server_fixtures import API_KEY, build_hash_kb, running, wait_job

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.mark.slow  # builds a 10,000-page PDF and reads four files in child processes: about a minute here
def test_hostile_uploads_fail_alone_and_the_server_stays_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    made = tmp_path / "made"
    made.mkdir()
    hostile = [bomb_docx(made / "bomb.docx", inflated_mib=64), many_pages_pdf(made / "pages.pdf"),
               nested_html(made / "deep.html")]
    server = ServerSettings(api_key=SecretStr(API_KEY), limits=Limits(load_memory_bytes=1 * 2**30))
    with running(create_app(Settings(home=home), server, generator=FakeGenerator())) as url, \
            httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
        files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in hostile]
        files.append(("files", ("fine.txt", b"Otters hold hands while they sleep.", "text/plain")))
        upload = client.post("/kbs/handbook/documents", files=files)
        assert upload.status_code == 202, upload.text
        job = wait_job(client, upload.json()["job"]["id"], timeout=180)
        assert job["status"] == "succeeded"
        failed = {f["path"]: f["error"] for f in job["result"]["files_failed"]}
        assert "decompression bomb" in failed["bomb.docx"]
        assert "max_pages" in failed["pages.pdf"]
        assert set(failed) <= {"bomb.docx", "pages.pdf", "deep.html"}
        assert client.get("/healthz").status_code == 200
        hits = client.post("/kbs/handbook/search", json={"query": "otters sleep"}).json()["hits"]
        assert any("Otters" in hit["text"] for hit in hits)


def test_a_1_gb_upload_is_refused_before_a_byte_of_it_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY)), generator=FakeGenerator())
    with running(app) as url:
        host = url.removeprefix("http://")
        name, port = host.split(":")
        with socket.create_connection((name, int(port)), timeout=10) as sock:
            sock.sendall((f"POST /kbs/handbook/documents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                          f"{API_KEY}\r\nContent-Type: multipart/form-data; boundary=X\r\n"
                          f"Content-Length: {2**30}\r\n\r\n").encode())
            reply = b""
            while b"max_upload_bytes" not in reply and (block := sock.recv(4096)):
                reply += block
        assert reply.startswith(b"HTTP/1.1 413") and b"max_upload_bytes" in reply
        assert httpx.get(url + "/healthz").status_code == 200


def test_a_symlink_in_the_upload_folder_is_not_followed_out_of_it(tmp_path: Path) -> None:
    kb = build_hash_kb(tmp_path / "home", "notes", {"a.txt": "Some notes about otters."})
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is hunter2")
    uploads = kb / "uploads"
    uploads.mkdir()
    (uploads / "evil.txt").symlink_to(secret)
    step = ingest_step(kb, [uploads / "evil.txt"], HashEmbedder(64), Limits())
    job = Job(id="j", kind="ingest", kb="notes", total=1)
    step(job)
    assert job.result is not None and "symlink" in job.result["files_failed"][0]["error"]
    from ingest.store import KnowledgeBase

    with KnowledgeBase.open(kb).snapshot() as snap:
        assert all("evil" not in entry.path for entry in snap.files())
