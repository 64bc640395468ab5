"""`GET /kbs/{kb}` answers from the manifest and SQL counts: it never opens the index files, so a damaged or
huge index does not slow it down or fail it (here: index paths that cannot be read as files at all)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from ingest.store import DENSE, LEXICAL
from llmapp.generate import FakeGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import build_hash_kb, running

pytestmark = pytest.mark.e2e


def test_info_does_not_read_the_index_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kb = build_hash_kb(home)
    for name in (DENSE, LEXICAL):  # a folder where the index file should be: any read of it raises
        (kb / name).unlink()
        (kb / name).mkdir()
    app = create_app(Settings(home=home), ServerSettings(no_auth=True), generator=FakeGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        answer = client.get("/kbs/handbook")
    assert answer.status_code == 200, answer.text
    info = answer.json()
    assert info["name"] == "handbook" and info["files"] == 3
    assert info["chunks"] == info["vectors"] > 0 and info["indexes_current"] is True
    assert info["embedder"]["dimension"] == 64 and "path" not in info["embedder"]
    shutil.rmtree(kb / DENSE)
