"""Embedder coverage per language, measured on the knowledge base: an embedder blind to Chinese gets Chinese
coverage 0 (so hybrid search leans on BM25 for Chinese queries), one that sees Chinese keeps its dense weight."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ingest.embed import HashEmbedder
from ingest.store import KnowledgeBase
from llmapp.retrieve import HybridRetriever
from llmapp.retrieve.coverage import kb_coverage, probe
from tests.support.retrieval_fixtures import EN, ZH, build_kb

_CJK = re.compile(r"[\u4e00-\u9fff]")


class LatinOnlyEmbedder(HashEmbedder):
    """A hash embedder that cannot see CJK characters, like an English-only model."""

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return super()._embed_batch([_CJK.sub(" ", text) for text in texts])


def test_probe_cuts_the_middle() -> None:
    assert probe("one two three four five six seven eight nine ten eleven twelve", "en").split()[0] == "two"
    assert len(probe("熊猫" * 30, "zh")) == 16


def test_coverage_tells_a_blind_embedder_from_a_seeing_one(tmp_path: Path) -> None:
    docs = {**ZH, **{f"en/{i}-{name}": text * 2 for i in range(3) for name, text in EN.items()}}
    seeing_kb = build_kb(tmp_path / "seeing", docs, embedder=HashEmbedder(64))
    blind_kb = build_kb(tmp_path / "blind", docs, embedder=LatinOnlyEmbedder(64))
    with KnowledgeBase.open(seeing_kb).snapshot() as snap:
        seeing = kb_coverage(snap, HashEmbedder(64), tmp_path / "cache")
    with KnowledgeBase.open(blind_kb).snapshot() as snap:
        blind = kb_coverage(snap, LatinOnlyEmbedder(64), None)
        hybrid = HybridRetriever(snap, LatinOnlyEmbedder(64), blind)
        assert hybrid.dense_weight("龙井茶产自哪里？") == 0.0
        assert hybrid.search("龙井茶产自哪里？", k=1)[0].source.endswith("tea.txt")
    assert seeing["zh"] == 1.0 and blind["zh"] == 0.0
    assert seeing["en"] == blind["en"] == 1.0
    cached = next((tmp_path / "cache").glob("*.json"))
    assert kb_coverage(KnowledgeBase.open(seeing_kb).snapshot(), HashEmbedder(64), tmp_path / "cache") == seeing
    assert cached.is_file()


def test_the_margin_does_not_depend_on_where_a_model_puts_its_cosines() -> None:
    from llmapp.retrieve.coverage import coverage_from_margin, standardized_margin

    rng = np.random.default_rng(0)
    spread = rng.normal(0.0, 0.1, (16, 16)) + np.eye(16) * 0.45  # MiniLM-like: others near 0, own near 0.45
    packed = 0.8 + spread / 8  # e5-like: everything in a narrow band near 0.8
    assert abs(standardized_margin(spread) - standardized_margin(packed)) < 1e-6
    assert coverage_from_margin(standardized_margin(packed)) == 1.0
    blind = 0.9 + rng.normal(0.0, 0.01, (16, 16))  # every text in the same place: no own-chunk advantage
    assert coverage_from_margin(standardized_margin(blind)) == 0.0


def test_dense_scores_are_rescaled_over_the_pool() -> None:
    from llmapp.retrieve.hybrid import rescale

    assert rescale(np.array([0.72, 0.80, 0.88])).tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert rescale(np.array([0.5, 0.5])).tolist() == [1.0, 1.0]
    assert rescale(np.array([])).size == 0
