"""Retrieval over a Milvus knowledge base (real milvus-lite) ranks as over the local store of the same files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ingest.embed import HashEmbedder
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase
from ingest.store.backend import open_store
from llmapp.retrieve import build_retriever
from tests.support.retrieval_fixtures import DOCS, EN, ZH

_names = itertools.count()
QUERIES = ["hybrid search BM25", "cats hunt", "熊猫吃竹子", "长城 军事 工程", "python wheel install", "高速铁路 上海",
           "interest rates bank", "nothing matches xyzzy", "京剧 脸谱 颜色 性格 唱念做打"]


@pytest.fixture(scope="module")
def stores(milvus_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("stores")
    folder = root / "docs"
    for name, text in {**DOCS, **ZH, **EN}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    uri = f"milvus://{milvus_endpoint}/retrieve{next(_names)}"
    for target in (root / "kb", uri):
        ingest(target, [folder], HashEmbedder(64), IngestOptions(progress=False))
    return root / "kb", uri


def _ranked(location: Path | str, mode: str, filters: dict[str, str] | None = None) -> list[list[str]]:
    """The texts of each query's hits (two files holding the same text tie, in an order neither store fixes)."""
    embedder = None if mode == "lexical" else HashEmbedder(64)
    with build_retriever(open_store(location), embedder, mode) as retriever:
        found = retriever.search_many(QUERIES, k=5, filters=filters)
    return [[h.text for h in hits] for hits in found]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_milvus_ranks_as_the_local_store(stores: tuple[Path, str], mode: str) -> None:
    local, remote = stores
    assert _ranked(remote, mode) == _ranked(local, mode)


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_milvus_scores_equal_the_local_store(stores: tuple[Path, str], mode: str) -> None:
    local, remote = stores
    embedder = None if mode == "lexical" else HashEmbedder(64)
    with build_retriever(open_store(local), embedder, mode) as here, \
            build_retriever(open_store(remote), embedder, mode) as there:
        for query in QUERIES:
            ours = [h.score for h in here.search(query, k=5)]
            theirs = [h.score for h in there.search(query, k=5)]
            assert theirs == pytest.approx(ours, abs=1e-4), query


def test_filtered_search_equals_the_local_store(stores: tuple[Path, str]) -> None:
    local, remote = stores
    for filters in ({"source": "zh/*"}, {"source": "*.md"}):
        assert _ranked(remote, "hybrid", filters) == _ranked(local, "hybrid", filters)


def test_kb_ids_match_a_fresh_local_ingest(stores: tuple[Path, str]) -> None:
    local, remote = stores
    with KnowledgeBase.open(local).snapshot() as here, open_store(remote).snapshot() as there:
        assert there.chunk_ids().tolist() == here.chunk_ids().tolist()
