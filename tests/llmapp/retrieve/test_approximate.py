"""Retrieval over an approximate (IVF) dense index: exact scores for fusion, exact search inside small
filters, and the same hits as an exact index where the lists cover everything."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.embed import HashEmbedder
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase
from ingest.store.dense_index import DensePolicy, describe
from llmapp.retrieve import Filters, HybridRetriever
from llmapp.retrieve.dense import DenseScorer
from tests.support.clustered_kb import clustered_kb, near, topic_centres
from tests.support.retrieval_fixtures import DOCS, EN, ZH

LOW = DensePolicy(ann_threshold=1000)


def test_an_ivf_scorer_gives_exact_scores_and_exact_results_inside_a_small_filter(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=60, per_file=50, policy=LOW)
    with kb.snapshot() as snap:
        scorer = DenseScorer(snap.dense())
        ids, vectors = snap.vectors()
        assert scorer.approximate
        query = near(topic_centres()[5], 1, np.random.default_rng(3))[0]
        some = ids[::7]
        assert np.allclose(scorer.scores_of(query, some), vectors[::7] @ query, atol=1e-6)
        allowed = ids[ids % 3 == 0]  # scattered over every list: a probe would miss some
        found, scores = scorer.top(query[None, :], 10, allowed)
        exact = allowed[np.argsort(-(vectors[ids % 3 == 0] @ query), kind="stable")[:10]]
        assert found[0].tolist() == exact.tolist()
        assert np.allclose(scores[0], np.sort(vectors[ids % 3 == 0] @ query)[::-1][:10], atol=1e-6)


def build(root: Path, policy: DensePolicy) -> Path:
    folder = root / "docs"
    for name, text in {**DOCS, **ZH, **EN}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    ingest(root / "kb", [folder], HashEmbedder(64), IngestOptions(progress=False, dense=policy))
    return root / "kb"


def test_hybrid_search_on_an_ivf_index_that_probes_every_list_equals_exact_search(tmp_path: Path) -> None:
    approximate = KnowledgeBase.open(build(tmp_path / "ivf", DensePolicy(ann_threshold=5)))
    exact = KnowledgeBase.open(build(tmp_path / "flat", DensePolicy()))
    queries = ["hybrid search fuses BM25", "熊猫吃竹子", "interest rates", "cats at dusk"]
    with approximate.snapshot() as a, exact.snapshot() as e:
        assert describe(a.dense())["kind"] == "ivf" and a.dense().nprobe >= a.dense().nlist
        ours, theirs = HybridRetriever(a, HashEmbedder(64)), HybridRetriever(e, HashEmbedder(64))
        for query in queries:
            for filters in (None, Filters(source="zh/*")):
                got = [(Path(h.source).name, round(h.score, 5)) for h in ours.search(query, k=5, filters=filters)]
                assert got == [(Path(h.source).name, round(h.score, 5))
                               for h in theirs.search(query, k=5, filters=filters)]
