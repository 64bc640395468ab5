"""Retrievers over a real (HashEmbedder) knowledge base: modes, score ranges, filters, min_score, dedup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.embed import HashEmbedder
from ingest.store import KnowledgeBase
from llmapp.errors import ConfigError
from llmapp.generate.sentences import noise_share
from llmapp.hits import Hit
from llmapp.retrieve import (
    DenseRetriever,
    Filters,
    HybridRetriever,
    LexicalRetriever,
    Retriever,
    build_retriever,
    open_retriever,
)
from llmapp.retrieve.base import distinct, join
from llmapp.retrieve.hybrid import NOISE_PENALTY, fuse, rescale
from llmapp.settings import Settings
from tests.support.retrieval_fixtures import build_kb


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_kb(tmp_path_factory.mktemp("retrieve"))


@pytest.fixture(params=["hybrid", "dense", "lexical"])
def retriever(request: pytest.FixtureRequest, kb: Path) -> Iterator[Retriever]:
    snapshot = KnowledgeBase.open(kb).snapshot()
    made: Retriever
    if request.param == "hybrid":
        made = HybridRetriever(snapshot, HashEmbedder(64))
    elif request.param == "dense":
        made = DenseRetriever(snapshot, HashEmbedder(64))
    else:
        made = LexicalRetriever(snapshot)
    yield made
    made.close()


def test_every_mode_finds_the_obvious_chunk_with_provenance(retriever: Retriever) -> None:
    hits = retriever.search("hybrid search fuses BM25 and dense vectors", k=3)
    assert hits[0].source.endswith("search.md") and hits[0].rank == 1
    assert hits[0].doc_id and hits[0].span[1] > hits[0].span[0]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_identical_texts_are_returned_once(retriever: Retriever) -> None:
    hits = retriever.search("cats sleep most of the day", k=5)
    assert sum("Cats sleep" in h.text for h in hits) == 1


def test_filters_apply_before_ranking(retriever: Retriever) -> None:
    hits = retriever.search("hybrid search BM25", k=5, filters=Filters(source="notes/*"))
    assert hits == [] or all("/notes/" in h.source for h in hits)
    hits = retriever.search("install pip python", k=5, filters={"source": "*.md", "doc_id": []})
    assert hits and all(h.source.endswith(".md") for h in hits)
    assert retriever.search("cats", k=5, filters={"doc_id": "no-such-document"}) == []


def test_metadata_filter_on_heading(retriever: Retriever, kb: Path) -> None:
    with KnowledgeBase.open(kb).snapshot() as snap:
        records = snap.chunks(snap.chunk_ids()).values()
    key, value = next((k, v) for r in records for k, v in r.metadata.items() if v == "Search")
    hits = retriever.search("install pip python hybrid search", k=5, filters={"metadata": {key: value}})
    assert hits and all(h.source.endswith("search.md") for h in hits)


def test_min_score_gives_an_explicit_nothing(kb: Path) -> None:
    with HybridRetriever(KnowledgeBase.open(kb).snapshot(), HashEmbedder(64), min_score=0.99) as strict:
        assert strict.search("zebra quantum violin", k=5) == []
    with HybridRetriever(KnowledgeBase.open(kb).snapshot(), HashEmbedder(64), min_score=0.3) as loose:
        hits = loose.search("Hybrid search fuses BM25 and dense vectors into one ranked list.", k=5)
        assert hits and all(h.score >= 0.3 for h in hits)


def test_bad_arguments_are_config_errors(retriever: Retriever) -> None:
    with pytest.raises(ConfigError):
        retriever.search("x", k=0)
    with pytest.raises(ConfigError):
        retriever.search("   ")
    with pytest.raises(ConfigError, match="unknown filter"):
        retriever.search("x", filters={"author": "me"})


def test_blank_query_in_a_batch_gets_no_hits(retriever: Retriever) -> None:
    results = retriever.search_many(["", "cats at dusk", "  "], k=2)
    assert results[0] == [] and results[2] == [] and results[1]


def test_search_many_equals_search(retriever: Retriever) -> None:
    queries = ["cats at dusk", "熊猫吃什么", "install with pip"]
    batch = retriever.search_many(queries, k=3)
    assert [[h.chunk_id for h in hits] for hits in batch] == [
        [h.chunk_id for h in retriever.search(q, k=3)] for q in queries]


def test_open_retriever_modes(kb: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    for mode in ("hybrid", "dense", "lexical"):
        with open_retriever(settings, str(kb), mode=mode) as retriever:
            assert retriever.search("panda bamboo 熊猫 竹子", k=2)
    with pytest.raises(ConfigError, match="mode"):
        open_retriever(settings, str(kb), mode="sparse")
    assert list((tmp_path / "cache" / "coverage").glob("*.json"))  # measured once, cached


def test_adjacent_chunks_of_one_document_are_not_near_duplicates(tmp_path: Path) -> None:
    long_text = " ".join(f"Panda fact {i}: pandas eat bamboo every day in Sichuan." for i in range(40))
    kb = build_kb(tmp_path, {"pandas.txt": long_text}, chunk_tokens=24)
    with LexicalRetriever(KnowledgeBase.open(kb).snapshot()) as retriever:
        hits = retriever.search("pandas eat bamboo", k=10)
    ordinals = sorted(h.ordinal for h in hits)
    assert len(hits) >= 2
    assert all(b - a >= 2 for a, b in zip(ordinals, ordinals[1:], strict=False))


def test_a_neighbour_among_the_k_best_is_joined_to_the_better_hit(tmp_path: Path) -> None:
    text = ("Pandas live in the bamboo forests of Sichuan and sleep most of the day. "
            "A panda eats bamboo for about fourteen hours every day. "
            "Red pandas are a different animal, closer to raccoons than to bears.")
    kb = build_kb(tmp_path, {"pandas.txt": text, "tea.txt": "Longjing tea grows near the West Lake."},
                  chunk_tokens=16)
    with LexicalRetriever(KnowledgeBase.open(kb).snapshot()) as retriever:
        chunks = retriever.search("panda bamboo Sichuan fourteen hours", k=10, join_neighbours=False)
        joined = retriever.search("panda bamboo Sichuan fourteen hours", k=10)
        records = retriever.snapshot.chunks(retriever.snapshot.chunk_ids()).values()
    assert [h.chunk_id for h in joined] == [h.chunk_id for h in chunks]  # the same passages, in the same order
    best = joined[0]
    spans = sorted(r.span if hasattr(r, "span") else (r.start, r.end) for r in records if r.source == best.source)
    assert best.source.endswith("pandas.txt") and len(spans) >= 3
    assert best.text != chunks[0].text and best.text.startswith(chunks[0].text) or best.text.endswith(chunks[0].text)
    assert best.text == text[best.span[0] : best.span[1]]  # two chunks, in document order, the overlap once
    assert sum(1 for start, end in spans if best.span[0] <= start and end <= best.span[1]) == 2


def test_join_puts_the_text_in_document_order_with_the_overlap_once() -> None:
    def hit(text: str, start: int, ordinal: int, rank: int) -> Hit:
        return Hit(rank=rank, score=1.0 / rank, text=text, source="a.txt", doc_id="a.txt", chunk_id=ordinal,
                   ordinal=ordinal, span=(start, start + len(text)))

    doc = "One two three four. Five six seven eight. Nine ten."
    first, second = hit(doc[:29], 0, 0, 2), hit(doc[20:], 20, 1, 1)  # "Five six " is in both
    joined = join(second, first)
    assert joined.text == doc and joined.span == (0, len(doc))
    assert (joined.chunk_id, joined.rank, joined.score) == (1, 1, 1.0)
    gap = hit("Nine ten.", 42, 1, 2)
    assert join(hit(doc[:19], 0, 0, 1), gap).text == "One two three four.\n\nNine ten."
    # a third chunk overlapping a joined passage is dropped: a passage spans at most two chunks
    kept = distinct([hit(doc[:25], 0, 0, 1), hit(doc[20:45], 20, 1, 2), hit(doc[40:], 40, 2, 3)], join_within=5)
    assert len(kept) == 1 and kept[0].text == doc[:45]
    # past the k best, a neighbour is dropped as before
    assert [h.text for h in distinct([hit(doc[:25], 0, 0, 1), hit(doc[20:45], 20, 1, 2)], join_within=1)] == [doc[:25]]


def test_build_retriever_takes_a_knowledge_base_and_an_embedder(kb: Path, tmp_path: Path) -> None:
    base = KnowledgeBase.open(kb)
    kinds = {"hybrid": HybridRetriever, "dense": DenseRetriever, "lexical": LexicalRetriever}
    for mode, kind in kinds.items():
        embedder = None if mode == "lexical" else HashEmbedder(64)
        with build_retriever(base, embedder, mode, coverage_cache=tmp_path / "coverage") as retriever:
            assert isinstance(retriever, kind) and retriever.search("panda bamboo 熊猫 竹子", k=2)
    with pytest.raises(ConfigError, match="needs the knowledge base's embedder"):
        build_retriever(base, None, "dense")


def test_fusion_lifts_the_other_language_and_discounts_noise() -> None:
    pool = np.array([10, 11, 12, 13])
    cosines = np.array([0.90, 0.86, 0.80, 0.78], dtype=np.float32)  # 10, 11: the question's language
    lexical = np.zeros(4, dtype=np.float32)
    other = np.array([False, False, True, True])
    assert [cid for cid, _ in fuse(pool, cosines, lexical, 1.0, 4)] == [10, 11, 12, 13]
    lifted = dict(fuse(pool, cosines, lexical, 1.0, 4, other))
    assert lifted[12] == lifted[10] == 1.0 and lifted[11] < 1.0  # the other language's best scores 1 as well
    noisy = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)  # 10 is a reference list
    ranked = fuse(pool, cosines, lexical, 1.0, 4, None, lambda positions: noisy[positions])
    assert ranked[0][0] == 11 and dict(ranked)[10] == pytest.approx(1.0 - NOISE_PENALTY)


def test_noise_read_only_for_candidates_that_can_reach_the_top_ranks_as_reading_all() -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        size, n = int(rng.integers(1, 120)), int(rng.integers(1, 40))
        pool = np.sort(rng.choice(10_000, size=size, replace=False))
        # fused scores of 0, 0.5 and 1 and penalised ones equal to them: ties everywhere, on purpose
        cosines = rng.choice([0.7, 0.8], size=size).astype(np.float32)
        lexical = rng.choice([0.0, 1.0], size=size).astype(np.float32)
        noise = np.where(rng.random(size) < 0.3, 1.0, 0.0).astype(np.float32)
        asked: list[int] = []

        def noise_of(positions: np.ndarray, shares: np.ndarray = noise, seen: list[int] = asked) -> np.ndarray:
            seen.extend(positions.tolist())
            return shares[positions]

        fused = 0.5 * rescale(cosines) + 0.5 * lexical
        penalised = fused * (1.0 - NOISE_PENALTY * noise)
        rank = np.empty(size, dtype=np.int64)
        rank[np.argsort(-fused, kind="stable")] = np.arange(size)  # equal scores: the unpenalised order decides
        expected = [(int(pool[i]), float(penalised[i])) for i in np.lexsort((rank, -penalised))[:n]]
        assert fuse(pool, cosines, lexical, 0.5, n, None, noise_of) == expected, trial
        assert len(asked) == len(set(asked))  # each candidate's share read at most once
    few: list[int] = []
    pool = np.arange(200)
    fuse(pool, np.linspace(0.9, 0.7, 200).astype(np.float32), np.zeros(200, dtype=np.float32), 1.0, 5, None,
         lambda positions: (few.extend(positions.tolist()), np.zeros(positions.size, dtype=np.float32))[1])
    assert len(few) == 5  # no noise among the 5 best: nothing below them can overtake the 5th


def test_noise_is_code_bibliography_and_furniture_not_a_paragraph_citing_a_year() -> None:
    references = ("- Vaswani, A., Shazeer, N., & Parmar, N. (2017). Attention is all you need. arXiv preprint "
                  "arXiv:1706.03762.\n- Graves, A., & Mohamed, A. (2014). Speech Recognition with Deep Recurrent "
                  "Neural Networks.\n")
    assert noise_share(references) == 1.0
    assert noise_share("import torch\nmodel = torch.nn.Linear(4, 2)\nloss.backward()\n") == 1.0
    paragraph = ("楚昭辅，字拱辰，宋州宋城人。北宋开国功臣，著名将领。皇帝前后赐予他钱财万计，他统统收藏起来，"
                 "曾经带宾客故旧到他的藏宝室中观看。")
    assert noise_share(paragraph) == 0.0
    assert noise_share("1,152次阅读 · 没有评论\n扫码领取AI学习资料包\n") == 1.0
    abstract = ("Mitochondrial division is important for mitochondrial distribution and function. Here we show "
                "that the dynamin-related protein is recruited to the outer membrane at sites of division, and that "
                "its recruitment depends on an adaptor that is itself anchored in the membrane. Cells lacking the "
                "adaptor keep long, interconnected mitochondria and fail to distribute them to daughter cells. "
                "The data set is deposited under DOI: 10.1000/xyz123 with the raw images and the analysis code.")
    assert len(abstract) > 400 and noise_share(abstract) == 0.0
