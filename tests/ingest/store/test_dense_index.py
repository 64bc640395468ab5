"""The dense index turns approximate (FAISS IVF) past a size threshold: the switch both ways, recall against
exact search, removals and incremental adds inside the IVF lists, retraining after growth, and the versioned
swap that keeps a reader on the index of its own snapshot."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from ingest.errors import KnowledgeBaseError
from ingest.store import KnowledgeBase, build_dense
from ingest.store.dense_index import DensePolicy, describe, exact_kth_scores, ideal_nlist, index_ids
from tests.support.clustered_kb import clustered_kb, near, topic_centres, write_files

LOW = DensePolicy(ann_threshold=1000)


def dense_of(kb: KnowledgeBase) -> tuple[object, np.ndarray]:
    with kb.snapshot() as snap:
        return snap.dense(), snap.chunk_ids()


def test_a_small_knowledge_base_keeps_exact_search_and_switches_at_the_threshold(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=18, per_file=50, policy=LOW)  # 900 vectors
    assert describe(dense_of(kb)[0]) == {"kind": "exact"}
    write_files(kb, {"/topic/more.txt": near(topic_centres()[0], 200, np.random.default_rng(5))}, LOW)
    index, ids = dense_of(kb)
    assert describe(index)["kind"] == "ivf" and index.nlist == ideal_nlist(1100)
    assert np.array_equal(index_ids(index), ids)
    write_files(kb, {}, LOW, remove=("/topic/more.txt", "/topic/0.txt"))
    index, ids = dense_of(kb)
    assert describe(index) == {"kind": "exact"} and np.array_equal(index_ids(index), ids)


def test_the_default_threshold_leaves_ordinary_knowledge_bases_exact(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=60, per_file=50, policy=DensePolicy())
    assert describe(dense_of(kb)[0]) == {"kind": "exact"}


def test_ivf_recall_at_10_against_exact_search_on_clustered_vectors(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=60, per_file=50, policy=LOW)
    index, _ = dense_of(kb)
    with kb.snapshot() as snap:
        ids, vectors = snap.vectors()
    queries = near(topic_centres()[3], 100, np.random.default_rng(9))  # near documents, not documents
    kth = exact_kth_scores(vectors, queries, 10)
    scores, found = index.search(queries, 10)
    assert describe(index)["kind"] == "ivf" and index.nprobe < index.nlist  # approximate, not a full scan
    assert float(np.mean(scores >= kth[:, None] - 1e-5)) >= 0.95
    assert set(found.ravel()) <= set(ids.tolist())


def test_removals_and_adds_go_into_the_ivf_lists_without_retraining(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=60, per_file=50, policy=LOW)
    before, _ = dense_of(kb)
    centroids = faiss.vector_to_array(faiss.downcast_index(before.quantizer).codes).copy()
    new_vectors = near(topic_centres()[7], 50, np.random.default_rng(11))
    added, removed = write_files(kb, {"/topic/new.txt": new_vectors}, LOW, remove=("/topic/1.txt",))
    after, ids = dense_of(kb)
    assert after.nlist == before.nlist and after.nprobe == before.nprobe
    assert np.array_equal(faiss.vector_to_array(faiss.downcast_index(after.quantizer).codes), centroids)
    assert np.array_equal(index_ids(after), ids) and len(ids) == 3000
    _, top = after.search(new_vectors, 1)
    assert top[:, 0].tolist() == added  # every new chunk is its own nearest neighbour
    _, everything = after.search(near(topic_centres()[1], 20, np.random.default_rng(2)), 100)
    assert not set(everything.ravel()) & set(removed)
    assert np.allclose(after.reconstruct_batch(np.asarray(added)), new_vectors, atol=1e-6)


def test_the_lists_are_retrained_when_the_knowledge_base_grew_a_lot(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=24, per_file=50, policy=LOW)  # 1,200 vectors
    first, _ = dense_of(kb)
    rng = np.random.default_rng(4)
    write_files(kb, {f"/topic/grown{i}.txt": near(topic_centres()[i % 40], 50, rng) for i in range(60)}, LOW)
    grown, ids = dense_of(kb)
    assert first.nlist == ideal_nlist(1200) and grown.nlist == ideal_nlist(4200) > 1.5 * first.nlist
    assert np.array_equal(index_ids(grown), ids)


def test_a_reader_keeps_the_index_of_its_snapshot_while_a_writer_switches_to_ivf(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=18, per_file=50, policy=LOW)
    loaded = kb.snapshot()
    loaded.dense()  # loaded before the switch
    lazy = kb.snapshot()  # opened before the switch, index read after it
    write_files(kb, {"/topic/more.txt": near(topic_centres()[0], 200, np.random.default_rng(5))}, LOW)
    fresh = kb.snapshot()
    try:
        assert describe(loaded.dense())["kind"] == describe(lazy.dense())["kind"] == "exact"
        assert np.array_equal(index_ids(lazy.dense()), loaded.chunk_ids()) and lazy.dense().ntotal == 900
        assert describe(fresh.dense())["kind"] == "ivf" and fresh.dense().ntotal == 1100
        assert fresh.stats()["dense_index"]["kind"] == "ivf"
    finally:
        for snap in (loaded, lazy, fresh):
            snap.close()


def test_a_reader_behind_the_file_rebuilds_an_exact_index_in_memory(tmp_path: Path) -> None:
    kb = clustered_kb(tmp_path / "kb", files=30, per_file=50, policy=LOW)
    with kb.writer(LOW) as writer:  # a writer killed between its commit and its index files
        writer.commit([])
    with kb.snapshot() as snap:
        assert not snap.index_is_current("dense")
        ids, vectors = snap.vectors()
        exact = build_dense(vectors.shape[1], ids, vectors)
        assert describe(snap.dense()) == {"kind": "exact"}
        assert np.array_equal(snap.dense().search(vectors[:5], 10)[1], exact.search(vectors[:5], 10)[1])


def test_a_bad_policy_is_refused_with_the_limit() -> None:
    with pytest.raises(KnowledgeBaseError, match="ann_threshold must be >= 1"):
        DensePolicy(ann_threshold=0)
