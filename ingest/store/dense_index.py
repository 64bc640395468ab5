"""The dense index file: exact (flat) below a size threshold, approximate (FAISS IVF) past it.

    n <  threshold   IndexIDMap2(IndexFlatIP)       exact inner product; results as before for small KBs
    n >= threshold   IndexIVFFlat, inner product    nlist = 4 * sqrt(n) lists (at most n / 39, so every list
                                                    has the 39 training points k-means needs), centroids trained
                                                    on a sample of at most 40 * nlist vectors (spherical
                                                    k-means: the vectors are unit length); a hashtable direct
                                                    map, so `remove_ids` and `reconstruct` work on chunk ids;
                                                    nprobe tuned at build time until recall@100 against exact
                                                    search reaches `recall_target` on a sample of the KB's own
                                                    vectors (each searched for its 100 nearest other vectors:
                                                    hybrid search fuses the dense top 100, so recall@10 alone
                                                    would let the fused ranking drift)

Either kind is written with `faiss.serialize_index` (nprobe and the direct map included), versioned and swapped
by the writer exactly like before: a reader keeps the index of its snapshot's version until it takes a new
snapshot. Incremental adds go into the IVF lists; when the knowledge base has grown or shrunk so far that the
list count is off by more than `RETRAIN_FACTOR` (about 2.25 times the size it was trained for), or crossed the
threshold, the writer rebuilds the index from the docstore's vectors.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.errors import KnowledgeBaseError
from ingest.store.schema import build_dense, faiss_module

log = logging.getLogger(__name__)

ANN_THRESHOLD = 200_000
RETRAIN_FACTOR = 1.5  # rebuild when the ideal nlist is this many times more (or less) than the index's
MIN_POINTS_PER_LIST = 39  # below this FAISS's k-means warns and the lists come out poor
TRAIN_POINTS_PER_LIST = 40
ADD_BATCH = 100_000  # vectors per add_with_ids call: bounds the quantizer's scratch memory
NPROBES = (8, 16, 32, 64, 128, 256, 512)
TUNE_QUERIES = 200
TUNE_K = 100  # hybrid search fuses the dense top 100 (llmapp.retrieve.hybrid): all of them must be right


@dataclass(frozen=True)
class DensePolicy:
    """When the dense index turns approximate, and how good it must stay."""

    ann_threshold: int = ANN_THRESHOLD
    recall_target: float = 0.97

    def __post_init__(self) -> None:
        if self.ann_threshold < 1:
            raise KnowledgeBaseError(f"ann_threshold must be >= 1 vector, got {self.ann_threshold}")
        if not 0.0 < self.recall_target <= 1.0:
            raise KnowledgeBaseError(f"recall_target must be in (0, 1], got {self.recall_target}")

    def wants_ivf(self, n: int) -> bool:
        return n >= self.ann_threshold


def ideal_nlist(n: int) -> int:
    return max(1, min(round(4 * math.sqrt(n)), n // MIN_POINTS_PER_LIST))


def is_ivf(index: Any) -> bool:
    return bool(hasattr(index, "nlist"))


def build_index(dimension: int, ids: np.ndarray, vectors: np.ndarray, policy: DensePolicy) -> Any:
    """The dense index the policy asks for at this size."""
    if not policy.wants_ivf(len(ids)):
        return build_dense(dimension, ids, vectors)
    return _build_ivf(dimension, ids, np.ascontiguousarray(vectors, dtype=np.float32), policy)


def _build_ivf(dimension: int, ids: np.ndarray, vectors: np.ndarray, policy: DensePolicy) -> Any:
    faiss = faiss_module()
    nlist = ideal_nlist(len(ids))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.spherical = True
    rng = np.random.default_rng(0)  # the same vectors give the same index
    sample = rng.choice(len(ids), size=min(len(ids), TRAIN_POINTS_PER_LIST * nlist), replace=False)
    started = time.perf_counter()
    index.train(vectors[np.sort(sample)])
    trained = time.perf_counter()
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    for begin in range(0, len(ids), ADD_BATCH):
        part = slice(begin, begin + ADD_BATCH)
        index.add_with_ids(vectors[part], ids[part].astype(np.int64))
    filled = time.perf_counter()
    index.nprobe = tune_nprobe(index, vectors, policy.recall_target)
    log.info("IVF index of %d vectors: %d lists trained on %d in %.1f s, filled in %.1f s, nprobe %d tuned in %.1f s",
             len(ids), nlist, len(sample), trained - started, filled - trained, index.nprobe,
             time.perf_counter() - filled)
    return index


def tune_nprobe(index: Any, vectors: np.ndarray, target: float) -> int:
    """The smallest nprobe whose recall@100 against exact search reaches `target` on a sample of the vectors."""
    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(len(vectors), size=min(TUNE_QUERIES, len(vectors)), replace=False)]
    k = min(TUNE_K, len(vectors) - 1)
    if k < 1:
        return 1
    kth = exact_kth_scores(vectors, queries, k + 1)  # + 1: each query finds itself
    for nprobe in NPROBES:
        if nprobe >= index.nlist or recall_at(index, queries, kth, k + 1, nprobe) >= target:
            return min(nprobe, int(index.nlist))
    return int(index.nlist)


def exact_kth_scores(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 65_536) -> np.ndarray:
    """The k-th best inner product of each query over all `vectors`, computed blockwise (bounded memory)."""
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for begin in range(0, len(vectors), block):
        scores = queries @ vectors[begin : begin + block].T
        merged = np.concatenate([best, scores], axis=1)
        best = -np.partition(-merged, k - 1, axis=1)[:, :k]
    return best.min(axis=1)


def recall_at(index: Any, queries: np.ndarray, kth: np.ndarray, k: int, nprobe: int) -> float:
    """Share of the approximate top-k scoring at least the exact k-th score (ties count as found)."""
    faiss = faiss_module()
    scores, _ = index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
    return float(np.mean(scores >= kth[:, None] - 1e-5))


def needs_rebuild(index: Any, policy: DensePolicy) -> bool:
    """Whether the index, after incremental changes, is the wrong kind or trained for a very different size."""
    n = int(index.ntotal)
    if is_ivf(index) != policy.wants_ivf(n):
        return True
    if not is_ivf(index):
        return False
    ratio = ideal_nlist(n) / int(index.nlist)
    return ratio > RETRAIN_FACTOR or ratio < 1 / RETRAIN_FACTOR


def index_ids(index: Any) -> np.ndarray:
    """Every chunk id in the index, sorted."""
    faiss = faiss_module()
    if not is_ivf(index):
        return np.sort(faiss.vector_to_array(index.id_map).astype(np.int64))
    lists = index.invlists
    parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(index.nlist)]
    return np.sort(np.concatenate(parts).astype(np.int64)) if parts else np.zeros(0, dtype=np.int64)


def describe(index: Any) -> dict[str, Any]:
    """What `llmapp kb info` shows about the dense index."""
    if is_ivf(index):
        return {"kind": "ivf", "nlist": int(index.nlist), "nprobe": int(index.nprobe)}
    return {"kind": "exact"}
