"""Names from clients: a knowledge-base name is matched whole, an upload name fits the file system in bytes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from llmapp.generate import FakeGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.server.uploads import MAX_NAME_BYTES, sanitise_name
from llmapp.settings import Settings
from llmcommon.names import is_kb_name
from tests.support.server_fixtures import build_hash_kb, running, wait_job

pytestmark = pytest.mark.e2e


def test_a_trailing_newline_is_not_part_of_a_valid_name() -> None:
    assert is_kb_name("handbook") and is_kb_name("员工手册")
    assert not is_kb_name("handbook\n") and not is_kb_name("hand\nbook")


def test_upload_names_are_capped_in_bytes() -> None:
    name = sanitise_name("报销" * 100 + ".docx")
    assert len(name.encode()) <= MAX_NAME_BYTES and name.endswith(".docx") and name.startswith("报销")


def test_the_server_refuses_a_newline_name_and_stores_a_long_chinese_upload(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    app = create_app(Settings(home=home), ServerSettings(no_auth=True), generator=FakeGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/kbs/handbook%0A").status_code == 400
        assert client.post("/kbs", json={"name": "fresh\n", "embedder": "hash:16"}).status_code in (400, 422)
        files = [("files", ("规章制度" * 40 + ".txt", "年假制度：员工每年有十天年假。".encode(), "text/plain"))]
        upload = client.post("/kbs/handbook/documents", files=files)
        assert upload.status_code == 202, upload.text  # was a 500: "File name too long" (480 bytes)
        assert wait_job(client, upload.json()["job"]["id"])["status"] == "succeeded"


def test_filters_are_bounded_in_ids_and_key_syntax(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home)
    app = create_app(Settings(home=home), ServerSettings(no_auth=True), generator=FakeGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        def search(filters: dict[str, object]) -> int:
            return client.post("/kbs/handbook/search", json={"query": "cats", "filters": filters}).status_code

        assert search({"doc_id": [f"id{i}" for i in range(10)]}) == 200
        assert search({"doc_id": [f"id{i}" for i in range(5000)]}) == 422  # 5,000 bound SQL parameters before
        assert search({"metadata": {"page": "3"}}) == 200
        assert search({"metadata": {"a' OR 1=1 --": "x"}}) == 422
        assert search({"metadata": {f"k{i}": "v" for i in range(40)}}) == 422
