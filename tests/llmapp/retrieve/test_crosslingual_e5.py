"""Cross-lingual hybrid search with the real shipped multilingual-e5-small: an English question whose answer is
only in a Chinese passage. BM25 shares no term with it, so only the dense side can find it, and the fusion must
let it. (Known limit, measured on this fixture: a Chinese question about an English passage still loses to
Chinese passages that share single characters with it under BM25, e.g. 西红柿怎么种 -> the rice passage.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmapp.retrieve import Retriever, open_retriever
from llmapp.settings import Settings
from tests.support.retrieval_fixtures import EN, ZH, build_kb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def retrievers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Retriever]]:
    from ingest.embed import load_embedder

    root = tmp_path_factory.mktemp("e5")
    kb = build_kb(root, {**ZH, **EN}, embedder=load_embedder("e5-small"))
    settings = Settings(home=root / "home")
    made = {mode: open_retriever(settings, str(kb), mode=mode) for mode in ("hybrid", "lexical")}
    yield made
    for retriever in made.values():
        retriever.close()


def top_source(retriever: Retriever, query: str) -> str:
    hits = retriever.search(query, k=3)
    return Path(hits[0].source).name if hits else ""


@pytest.mark.parametrize(("query", "expected"), [
    ("Where does Longjing tea come from?", "tea.txt"),
    ("How fast is the high-speed railway between Beijing and Shanghai?", "rail.txt"),
])
def test_a_question_in_one_language_finds_the_passage_in_the_other(retrievers: dict[str, Retriever], query: str,
                                                                   expected: str) -> None:
    assert top_source(retrievers["lexical"], query) != expected  # no shared term: BM25 alone cannot
    assert top_source(retrievers["hybrid"], query) == expected


def test_same_language_questions_still_work(retrievers: dict[str, Retriever]) -> None:
    assert top_source(retrievers["hybrid"], "龙井茶产自哪里？") == "tea.txt"
    assert top_source(retrievers["hybrid"], "Why won't my vehicle turn on?") == "car.txt"
