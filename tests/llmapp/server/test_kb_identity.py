"""A knowledge base deleted and created again under the same name is a new one to every cache; deletes are
one rename; a knowledge base is never created over a folder that holds something else."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from ingest.embed import HashEmbedder
from ingest.errors import KnowledgeBaseError
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase, Manifest, is_knowledge_base
from ingest.trash import TRASH, delete_knowledge_base, empty_trash
from llmapp.generate import FakeGenerator
from llmapp.retrieve.coverage import kb_coverage
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import build_hash_kb, running

pytestmark = pytest.mark.e2e

OLD = {"old.txt": "Otters hold hands while they sleep so they do not drift apart.\n"}
NEW = {"new.txt": "Volcanoes form where tectonic plates pull apart or dive under each other.\n"}


def _recreate(kb: Path, docs: dict[str, str]) -> None:
    """Ingest `docs` (and only them) into a new knowledge base at `kb`, as `llmapp ingest` would."""
    folder = kb.parent.parent / "new-docs"
    folder.mkdir()
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest(kb, [folder], HashEmbedder(64), IngestOptions(progress=False))


def _top(client: httpx.Client, query: str) -> str:
    hits = client.post("/kbs/notes/search", json={"query": query, "k": 1}).json()["hits"]
    return str(hits[0]["text"]) if hits else ""


def test_a_knowledge_base_deleted_and_created_again_elsewhere_is_not_served_from_the_old_cache(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    kb = build_hash_kb(home, "notes", OLD)
    app = create_app(Settings(home=home), ServerSettings(no_auth=True, mode="dense"), generator=FakeGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert "Otters" in _top(client, "otters")
        version = KnowledgeBase.open(kb).version()
        delete_knowledge_base(kb)  # as `llmapp kb delete` in another process would
        assert client.post("/kbs/notes/search", json={"query": "x"}).status_code == 404
        _recreate(kb, NEW)  # the same name and, after one ingest, the same version
        assert KnowledgeBase.open(kb).version() == version
        assert "Volcanoes" in _top(client, "otters")  # the old retriever answered "Otters..." here


def test_the_coverage_cache_is_keyed_by_the_creation_not_the_path(tmp_path: Path) -> None:
    home, cache = tmp_path / "home", tmp_path / "coverage"
    embedder = HashEmbedder(64)
    kb = build_hash_kb(home, "notes", OLD)
    with KnowledgeBase.open(kb).snapshot() as snap:
        kb_coverage(snap, embedder, cache)
    delete_knowledge_base(kb)
    _recreate(kb, NEW)
    with KnowledgeBase.open(kb).snapshot() as snap:
        kb_coverage(snap, embedder, cache)
    assert len(list(cache.glob("*.json"))) == 2  # measured again, not read from the deleted one's entry


def test_the_server_drops_a_deleted_knowledge_bases_coverage_cache(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hash_kb(home, "notes", OLD)
    app = create_app(Settings(home=home), ServerSettings(no_auth=True), generator=FakeGenerator())
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        _top(client, "otters")
        assert list((home / "cache" / "coverage").glob("*.json"))
        assert client.delete("/kbs/notes").status_code == 200
        assert not list((home / "cache" / "coverage").glob("*.json"))
        assert not (home / TRASH).exists() and not (home / "notes").exists()


def test_each_creation_gets_its_own_id(tmp_path: Path) -> None:
    first = build_hash_kb(tmp_path / "a", "kb", OLD)
    second = build_hash_kb(tmp_path / "b", "kb", OLD)
    ids = {Manifest.read(first).kb_id, Manifest.read(second).kb_id}
    assert len(ids) == 2 and "" not in ids
    assert Manifest.read(first).identity == KnowledgeBase.open(first).manifest.identity  # stable across reads


def test_a_knowledge_base_is_not_created_over_a_folder_that_holds_something_else(tmp_path: Path) -> None:
    folder = tmp_path / "leftover"
    folder.mkdir()
    (folder / "docstore.sqlite").write_bytes(b"what a killed delete left")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("some text about otters")
    with pytest.raises(KnowledgeBaseError, match="not empty and not a knowledge base"):
        ingest(folder, [docs], HashEmbedder(16), IngestOptions(progress=False))
    assert not is_knowledge_base(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    ingest(empty, [docs], HashEmbedder(16), IngestOptions(progress=False))
    assert is_knowledge_base(empty)


def test_a_delete_is_one_rename_and_a_killed_ones_leftovers_are_removed(tmp_path: Path) -> None:
    kb = build_hash_kb(tmp_path / "home", "notes", OLD)
    killed = kb.parent / TRASH / "notes-killedmidway"
    killed.mkdir(parents=True)
    (killed / "docstore.sqlite").write_bytes(b"half removed")
    delete_knowledge_base(kb)
    assert not kb.exists() and not (kb.parent / TRASH).exists()
    (kb.parent / TRASH / "x").mkdir(parents=True)
    assert empty_trash(kb.parent) == 1


def test_searches_never_use_a_retriever_a_newer_version_closed(tmp_path: Path) -> None:
    # the soak test found it: a search took the cached retriever, a commit replaced and closed it, and the
    # search then read a closed snapshot ("Cannot operate on a closed database", a 500)
    import threading

    from llmapp.server.knowledge import KnowledgeBases

    home = tmp_path / "home"
    kb = build_hash_kb(home, "notes", OLD)
    kbs = KnowledgeBases(Settings(home=home, embedder="hash:64"), mode="hybrid")
    kbs._embedders["hash:64"] = HashEmbedder(64)  # the one the knowledge base was built with
    failures: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                with kbs.retriever("notes") as retriever:
                    retriever.search("otters", k=3)
            except BaseException as exc:  # collected: the assertion below reports it
                failures.append(exc)
                return

    threads = [threading.Thread(target=search) for _ in range(6)]
    for thread in threads:
        thread.start()
    folder = tmp_path / "more"
    folder.mkdir()
    for i in range(25):
        (folder / f"m{i}.txt").write_text(f"note {i} about rivers and otters number {i}")
        ingest(kb, [folder], HashEmbedder(64), IngestOptions(progress=False))
    stop.set()
    for thread in threads:
        thread.join()
    kbs.close()
    assert failures == []


def test_the_chat_chain_embeds_with_the_knowledge_bases_embedder(tmp_path: Path) -> None:
    """The server's stand-in retriever embeds through the current retriever's embedder, so a cross-lingual
    extractive answer is ranked as `ask` ranks it."""
    from llmapp.chains.qa import embedder_of
    from llmapp.server.chat import KbSearch
    from llmapp.server.knowledge import KnowledgeBases

    home = tmp_path / "home"
    build_hash_kb(home, "notes", OLD)
    kbs = KnowledgeBases(Settings(home=home, embedder="hash:64"), mode="hybrid")
    kbs._embedders["hash:64"] = HashEmbedder(64)
    search = KbSearch(kbs, "notes")
    assert embedder_of(search) is search
    vectors = search.embed(["otters and rivers", "水獭"], role="query")
    assert vectors.shape == (2, 64)
    assert np.allclose(vectors, HashEmbedder(64).embed(["otters and rivers", "水獭"], role="query"))
    kbs.close()
