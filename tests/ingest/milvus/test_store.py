"""The Milvus store against a real milvus-lite server: the local store's incremental-ingest contract."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ingest.embed import HashEmbedder
from ingest.milvus import MilvusKnowledgeBase
from ingest.pipeline import IngestOptions, ingest
from ingest.store import ChunkFilter
from tests.support.retrieval_fixtures import DOCS

_names = itertools.count()


@pytest.fixture
def kb_uri(milvus_endpoint: str) -> str:
    return f"milvus://{milvus_endpoint}/kb{next(_names)}"


def _write(root: Path, docs: dict[str, str]) -> Path:
    for name, text in docs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _ingest(uri: str, folder: Path, prune: bool = False) -> dict[str, int]:
    report = ingest(uri, [folder], HashEmbedder(64), IngestOptions(progress=False, prune=prune))
    return report.to_dict()


def test_ingest_then_unchanged_files_embed_nothing(kb_uri: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", DOCS)
    first = _ingest(kb_uri, folder)
    assert (first["files_added"], first["files_failed"]) == (len(DOCS), [])
    again = _ingest(kb_uri, folder)
    assert (again["files_unchanged"], again["texts_embedded"], again["chunks_added"]) == (len(DOCS), 0, 0)
    with MilvusKnowledgeBase.open(kb_uri).snapshot() as snap:
        assert [Path(f.path).relative_to(folder).as_posix() for f in snap.files()] == sorted(DOCS)
        assert snap.version == 1
        assert snap.stats()["chunks"] == len(snap.chunk_ids())


def test_changed_file_replaces_exactly_its_chunks(kb_uri: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", DOCS)
    _ingest(kb_uri, folder)
    base = MilvusKnowledgeBase.open(kb_uri)
    with base.snapshot() as snap:
        before = snap.chunks(snap.chunk_ids())
    _write(folder, {"notes/cats.txt": "Dogs bark at the postman every single morning.\n"})
    report = _ingest(kb_uri, folder)
    assert (report["files_updated"], report["files_unchanged"]) == (1, len(DOCS) - 1)
    assert report["texts_embedded"] == 1 and report["chunks_removed"] == 1
    with base.snapshot() as snap:
        after = snap.chunks(snap.chunk_ids())
    kept = {cid: r.text for cid, r in before.items() if not r.source.endswith("notes/cats.txt")}
    assert {cid: after[cid].text for cid in kept} == kept  # the other files' chunks are untouched
    assert [r.text for r in after.values() if r.source.endswith("notes/cats.txt")] == [
        "Dogs bark at the postman every single morning."]


def test_same_text_in_a_new_file_reuses_the_stored_vector(kb_uri: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", DOCS)
    _ingest(kb_uri, folder)
    _write(folder, {"notes/copy2.txt": DOCS["notes/cats.txt"]})
    report = _ingest(kb_uri, folder)
    assert (report["files_added"], report["texts_embedded"], report["chunks_added"]) == (1, 0, 1)


def test_prune_removes_gone_files(kb_uri: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", DOCS)
    _ingest(kb_uri, folder)
    (folder / "notes/zh.txt").unlink()
    assert _ingest(kb_uri, folder)["files_removed"] == 0  # not without --prune
    report = _ingest(kb_uri, folder, prune=True)
    assert report["files_removed"] == 1 and report["chunks_removed"] >= 1
    with MilvusKnowledgeBase.open(kb_uri).snapshot() as snap:
        assert not any(path.endswith("zh.txt") for path in snap.file_paths())
        assert not any(r.source.endswith("zh.txt") for r in snap.chunks(snap.chunk_ids()).values())


def test_filters_match_the_local_store(kb_uri: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", DOCS)
    _ingest(kb_uri, folder)
    local = tmp_path / "local"
    ingest(local, [folder], HashEmbedder(64), IngestOptions(progress=False))
    from ingest.store import KnowledgeBase

    wanted = [ChunkFilter(source="*.md"), ChunkFilter(source="notes/*"), ChunkFilter(source="guide/s?arch.md"),
              ChunkFilter(doc_ids=("nothing",)), ChunkFilter()]
    with MilvusKnowledgeBase.open(kb_uri).snapshot() as remote, KnowledgeBase.open(local).snapshot() as here:
        for chunk_filter in wanted:
            assert remote.chunk_ids(chunk_filter).tolist() == here.chunk_ids(chunk_filter).tolist(), chunk_filter


def test_another_embedder_is_refused(kb_uri: str, tmp_path: Path) -> None:
    from ingest.errors import KnowledgeBaseError

    folder = _write(tmp_path / "docs", DOCS)
    _ingest(kb_uri, folder)
    with pytest.raises(KnowledgeBaseError, match="hash:64"):
        ingest(kb_uri, [folder], HashEmbedder(32), IngestOptions(progress=False))


def test_bad_uri_names_the_rule() -> None:
    from ingest.errors import KnowledgeBaseError

    with pytest.raises(KnowledgeBaseError, match="ASCII letter"):
        MilvusKnowledgeBase.open("milvus://127.0.0.1:1/bad-name")
