"""Embedder coverage per language, measured on the knowledge base: an embedder blind to Chinese gets Chinese
coverage 0 (so hybrid search leans on BM25 for Chinese queries), one that sees Chinese keeps its dense weight."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

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
    seeing_kb = build_kb(tmp_path / "seeing", docs, embedder=HashEmbedder(256))
    blind_kb = build_kb(tmp_path / "blind", docs, embedder=LatinOnlyEmbedder(64))
    with KnowledgeBase.open(seeing_kb).snapshot() as snap:
        seeing = kb_coverage(snap, HashEmbedder(256), tmp_path / "cache")
    with KnowledgeBase.open(blind_kb).snapshot() as snap:
        blind = kb_coverage(snap, LatinOnlyEmbedder(64), None)
        hybrid = HybridRetriever(snap, LatinOnlyEmbedder(64), blind)
        assert hybrid.dense_weight("龙井茶产自哪里？") == 0.0
        assert hybrid.search("龙井茶产自哪里？", k=1)[0].source.endswith("tea.txt")
    assert seeing["zh"] == 1.0 and blind["zh"] == 0.0
    assert seeing["en"] == blind["en"] == 1.0
    cached = next((tmp_path / "cache").glob("*.json"))
    assert kb_coverage(KnowledgeBase.open(seeing_kb).snapshot(), HashEmbedder(256), tmp_path / "cache") == seeing
    assert cached.is_file()


def test_the_margin_does_not_depend_on_where_a_model_puts_its_cosines() -> None:
    from llmapp.retrieve.coverage import coverage_from_margin, relative_margin, standardized_margin

    rng = np.random.default_rng(0)
    spread = rng.normal(0.0, 0.1, (16, 16)) + np.eye(16) * 0.45  # MiniLM-like: others near 0, own near 0.45
    packed = 0.8 + spread / 8  # e5-like: everything in a narrow band near 0.8
    assert abs(standardized_margin(spread) - standardized_margin(packed)) < 1e-6
    words = standardized_margin(rng.normal(0.0, 0.1, (16, 16)) + np.eye(16) * 2.0)  # the bag of words' margin
    assert coverage_from_margin(relative_margin(standardized_margin(packed), words)) == 1.0
    blind = 0.9 + rng.normal(0.0, 0.01, (16, 16))  # every text in the same place: no own-chunk advantage
    assert coverage_from_margin(relative_margin(standardized_margin(blind), words)) == 0.0


def test_coverage_is_read_against_how_distinctive_the_probes_are() -> None:
    """On chunks about one subject every margin shrinks, the bag of words' too: e5-small's Chinese margin was 3.5
    on CMRC and 2.1 on five articles about deep learning, under the absolute floor (2.5) that switched its dense
    search off there. Against the bag of words' margin it keeps about the same share on both."""
    from llmapp.retrieve.coverage import coverage_from_margin, relative_margin, standardized_margin

    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 0.1, (32, 32))
    for own_advantage in (0.35, 0.2):  # varied subjects, one subject
        reading = standardized_margin(noise + np.eye(32) * own_advantage)
        words = standardized_margin(noise + np.eye(32) * own_advantage * 6)
        assert coverage_from_margin(relative_margin(reading, words)) == 1.0
    assert coverage_from_margin(relative_margin(1.0, 25.0)) == 0.0  # MiniLM on CMRC: 0.9 of 24.8


def test_a_probe_sharing_no_word_with_other_chunks_does_not_swamp_the_margin() -> None:
    from llmapp.retrieve.coverage import lexical_margin

    chunks = ["模型训练需要大量带标签的数据。", "推理阶段的模型只做前向计算。", "学习率太大时训练会发散。",
              "数据增强让模型见到更多样的样本。", "量化把模型参数变成低精度整数。", "蒸馏让小模型模仿大模型的输出。",
              "剪枝删除不重要的权重以减少计算。", "批归一化让每层的输入分布更稳定。"]
    probes = [chunk[:8] for chunk in chunks]
    typical = lexical_margin(probes, chunks)
    chunks[0] += "熊猫爱吃竹子"
    probes[0] = "熊猫爱吃竹子"  # its others' cosines are all 0: as a mean, its margin over a ~0 spread was 10^5
    assert 0.5 * typical < lexical_margin(probes, chunks) < 2 * typical
