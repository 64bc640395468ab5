"""Accepted uploads are never lost: jobs on disk survive a restart and unfinished ones run again; a multi-file
upload lands whole or not at all; temporaries are cleaned; a delete never takes a newer upload of the name."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embed import HashEmbedder
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase
from llmapp.generate import FakeGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.server.app import JOBS_FILE
from llmapp.server.jobs import Job
from llmapp.server.jobstore import JobStore
from llmapp.server.uploads import Incoming, remove_step, save_uploads
from llmapp.settings import Settings
from tests.support.server_fixtures import build_hash_kb, running, wait_job

pytestmark = pytest.mark.e2e


def _serve(home: Path) -> Any:
    return running(create_app(Settings(home=home), ServerSettings(no_auth=True), generator=FakeGenerator()))


def _search(client: httpx.Client, query: str) -> str:
    return " ".join(h["text"] for h in client.post("/kbs/handbook/search", json={"query": query}).json()["hits"])


def test_finished_jobs_are_still_known_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    with _serve(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        files = [("files", ("otters.txt", b"Sea otters hold hands while sleeping.", "text/plain"))]
        job = client.post("/kbs/handbook/documents", files=files).json()["job"]
        assert wait_job(client, job["id"])["status"] == "succeeded"
    with _serve(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        again = client.get(f"/jobs/{job['id']}")
        assert again.status_code == 200 and again.json()["status"] == "succeeded"  # was a 404: jobs were in memory


def test_a_job_a_killed_server_left_running_is_run_again_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    uploads = home / "handbook" / "uploads"
    uploads.mkdir()
    (uploads / "volcano.txt").write_text("Volcanoes erupt where magma reaches the surface.", encoding="utf-8")
    (uploads / ".incoming-abc123").write_bytes(b"half an upload")
    store = JobStore(home / JOBS_FILE)  # what the killed server had written when it accepted the upload
    store.save(Job(id="j-running", kind="ingest", kb="handbook", total=1, status="running",
                   spec={"files": ["volcano.txt"]}).row())
    store.save(Job(id="j-gone", kind="ingest", kb="deleted-kb", total=1, status="queued",
                   spec={"files": ["x.txt"]}).row())
    store.close()
    with _serve(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_job(client, "j-running")["status"] == "succeeded"
        assert "Volcanoes" in _search(client, "volcanoes magma")
        gone = client.get("/jobs/j-gone").json()
        assert gone["status"] == "failed" and "not resumed" in gone["error"]
    assert not list(uploads.glob(".incoming-*"))


class _Failing(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise OSError("client went away")


def test_a_multi_file_upload_lands_whole_or_not_at_all(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    incoming = [Incoming("a.txt", io.BytesIO(b"first file"), 10), Incoming("b.txt", _Failing(b"x"), 1)]
    with pytest.raises(OSError):
        save_uploads(incoming, folder)
    assert list(folder.iterdir()) == []  # the first file used to be in place already, with no job for it
    saved = save_uploads([Incoming("a.txt", io.BytesIO(b"first"), 5), Incoming("b.txt", io.BytesIO(b"2nd"), 3)],
                         folder)
    assert [p.read_bytes() for p in saved] == [b"first", b"2nd"]


def test_deleting_a_document_keeps_a_newer_upload_of_the_same_name(tmp_path: Path) -> None:
    kb_path = tmp_path / "kb"
    ingest(kb_path, [], HashEmbedder(16), IngestOptions(progress=False))
    uploads = kb_path / "uploads"
    uploads.mkdir()
    doc = uploads / "notes.txt"
    doc.write_text("The old notes about otters.")
    ingest(kb_path, [doc], HashEmbedder(16), IngestOptions(progress=False))
    kb = KnowledgeBase.open(kb_path)
    with kb.snapshot() as snap:
        [entry] = snap.files()
    source, sha = entry.path, entry.sha256
    step = remove_step(kb, source, sha)  # DELETE accepted; the job waits behind others
    doc.write_text("The new notes, uploaded after the delete.")  # a newer upload of the name lands meanwhile
    step(Job(id="j", kind="remove", kb="kb", total=1))
    assert doc.read_text() == "The new notes, uploaded after the delete."
    step = remove_step(kb, source, hashlib.sha256(doc.read_bytes()).hexdigest())
    step(Job(id="j2", kind="remove", kb="kb", total=1))
    assert not doc.exists()  # the file that was ingested goes with its chunks


def test_job_progress_is_written_as_it_goes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    with _serve(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        files = [("files", (f"f{i}.txt", f"file number {i} about topic {i}".encode(), "text/plain")) for i in range(3)]
        job = client.post("/kbs/handbook/documents", files=files).json()["job"]
        wait_job(client, job["id"])
        time.sleep(0.1)
    rows = {row["id"]: row for row in JobStore(home / JOBS_FILE).latest(10)}
    assert rows[job["id"]]["done"] == 3 and rows[job["id"]]["status"] == "succeeded"
    assert rows[job["id"]]["spec"] == {"files": ["f0.txt", "f1.txt", "f2.txt"]}
