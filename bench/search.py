"""Search latency: p50/p95 of one k=10 hybrid query (query embedding included, model load excluded), llmapp
against LangChain's EnsembleRetriever (FAISS + BM25Retriever) on the same chunks, vectors and tokens.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/search.py --kb /tmp/scifact-kb --queries ../shared/eval/scifact/queries.jsonl
    .venv/bin/python bench/search.py --synthetic 100000          # random unit vectors + synthetic texts
    .venv/bin/python bench/search.py --synthetic 100000 --embedder e5-small --skip-langchain  # e5 query encoder
    .venv/bin/python bench/search.py --clustered 1000000         # approximate (IVF) vs exact dense search

--clustered writes a knowledge base of clustered vectors and topical texts (bench/clustered_kb.py) with the
approximate-search threshold below its size, then reports in one run: k=10 hybrid p50/p95 on its IVF index and
on an exact flat index of the same vectors (the baseline), recall@10 of the IVF dense search against exact
search, the IVF build phases, and the size and RSS of each index.

The synthetic knowledge base is written straight through ingest.store (1,000 files of 100 chunks, 384-d random
unit vectors recorded as the "hash:384" embedder, so queries are embedded by HashEmbedder, not a model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

WORDS = [f"w{i}" for i in range(20000)]


def synthetic_kb(path: Path, n_chunks: int, dimension: int = 384, per_file: int = 100,
                 embedder: str | None = None) -> Path:
    """A knowledge base of n_chunks synthetic chunks (Zipf-distributed words, random unit vectors)."""
    from ingest.lexical import tokenize
    from ingest.store import ChunkingSpec, EmbedderSpec, FileChange, KnowledgeBase, Manifest, NewDocument

    rng = np.random.default_rng(0)
    ranks = np.arange(1, len(WORDS) + 1)
    probabilities = (1.0 / ranks) / (1.0 / ranks).sum()
    spec = EmbedderSpec(f"hash:{dimension}", dimension)
    if embedder:  # recorded as this model's knowledge base: queries are embedded by the real model
        from ingest.embed import load_embedder

        spec = EmbedderSpec.from_dict(load_embedder(embedder).spec())
        dimension = spec.dimension
    manifest = Manifest(embedder=spec, chunking=ChunkingSpec(128, 0))
    kb = KnowledgeBase.create(path, manifest)
    with kb.writer() as writer:
        changes = []
        for file_number in range(0, n_chunks, per_file):
            rows: list[tuple[str, str, list[str], np.ndarray]] = []
            chunks: list[tuple[str, int, int, int, int, dict[str, Any]]] = []
            for ordinal in range(min(per_file, n_chunks - file_number)):
                text = " ".join(WORDS[i] for i in rng.choice(len(WORDS), size=60, p=probabilities))
                vector = rng.standard_normal(dimension).astype(np.float32)
                sha = hashlib.sha256(text.encode()).hexdigest()
                rows.append((sha, text, tokenize(text), vector / np.linalg.norm(vector)))
                chunks.append((sha, ordinal, 0, len(text), 60, {}))
            writer.add_texts(rows)
            document = NewDocument(f"doc{file_number}", "", {}, 0, chunks)
            changes.append(FileChange(f"/synthetic/{file_number}.txt", sha, 0, 0, [document]))
        added, removed = writer.commit(changes)
        writer.sync_indexes(added, removed)
    return path


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
            "queries": len(ms)}


def timed(search: Callable[[str], Any], queries: Sequence[str]) -> dict[str, float]:
    for query in queries[:5]:  # warm-up: lazy index loads, first-call allocations
        search(query)
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - started)
    return percentiles(times)


def llmapp_side(kb: Path, queries: Sequence[str], k: int) -> dict[str, float]:
    from llmapp.retrieve import open_retriever
    from llmapp.settings import Settings

    with tempfile.TemporaryDirectory() as home, open_retriever(Settings(home=Path(home)), str(kb)) as retriever:
        retriever.search(queries[0], k=k)  # loads the model, the indexes and measures coverage (excluded)
        return timed(lambda q: retriever.search(q, k=k), queries)


def langchain_side(kb: Path, queries: Sequence[str], k: int) -> dict[str, float]:
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    from ingest.embed import load_embedder
    from ingest.lexical import tokenize
    from ingest.store import KnowledgeBase
    from llmapp.retrieve.base import embed_queries

    base = KnowledgeBase.open(kb)
    embedder = load_embedder(base.manifest.embedder.name)

    class Wrapped(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embed_queries(embedder, [text])[0].tolist()  # the same one-thread query embedding as llmapp

    with base.snapshot() as snap:
        ids, vectors = snap.vectors()
        records = snap.chunks(ids)
    texts = [records[int(i)].text for i in ids]
    pairs = [(text, vector.tolist()) for text, vector in zip(texts, vectors, strict=True)]
    store = FAISS.from_embeddings(pairs, Wrapped(), distance_strategy="MAX_INNER_PRODUCT")
    bm25 = BM25Retriever.from_texts(texts, preprocess_func=tokenize, k=k)
    ensemble = EnsembleRetriever(retrievers=[bm25, store.as_retriever(search_kwargs={"k": k})], weights=[0.5, 0.5])
    ensemble.invoke(queries[0])
    return timed(ensemble.invoke, queries)


def clustered_side(kb: Path, planted: Any, k: int) -> dict[str, Any]:
    """IVF (the knowledge base's own index file) against an exact flat index of the same vectors."""
    from bench.clustered_kb import PlantedEmbedder
    from bench.measure import current_rss_mb
    from ingest.store import KnowledgeBase, build_dense
    from ingest.store.dense_index import describe, exact_kth_scores
    from llmapp.retrieve import HybridRetriever
    from llmapp.retrieve.dense import DenseScorer

    embedder = PlantedEmbedder(planted)
    with KnowledgeBase.open(kb).snapshot() as snap:
        before = current_rss_mb()
        approximate = snap.dense()
        ivf_rss = current_rss_mb() - before
        ids, vectors = snap.vectors()
        before = current_rss_mb()
        exact = build_dense(vectors.shape[1], ids, vectors)
        flat_rss = current_rss_mb() - before
        kth = exact_kth_scores(vectors, planted.vectors, k)
        kth100 = exact_kth_scores(vectors, planted.vectors, 100)  # the dense candidates hybrid search fuses
        del ids, vectors
        scores, _ = DenseScorer(approximate).top(planted.vectors, k, None)
        scores100, _ = DenseScorer(approximate).top(planted.vectors, 100, None)
        ivf = HybridRetriever(snap, embedder)
        flat = HybridRetriever(_WithDense(snap, exact), embedder)
        ivf.search(planted.texts[0], k=k)  # lexical index load and coverage (excluded)
        flat.search(planted.texts[0], k=k)
        overlap = [_overlap(ivf.search(q, k=k), flat.search(q, k=k)) for q in planted.texts]
        return {"index": describe(approximate),
                "dense_recall_at_10": round(float(np.mean(scores >= kth[:, None] - 1e-5)), 4),
                "dense_recall_at_100": round(float(np.mean(scores100 >= kth100[:, None] - 1e-5)), 4),
                "hybrid_top10_overlap": round(float(np.mean(overlap)), 4),
                "ivf_hybrid": timed(lambda q: ivf.search(q, k=k), planted.texts),
                "exact_hybrid": timed(lambda q: flat.search(q, k=k), planted.texts),
                "ivf_bytes": int(faiss_bytes(approximate)), "exact_bytes": int(faiss_bytes(exact)),
                "ivf_rss_mb": round(ivf_rss), "exact_rss_mb": round(flat_rss)}


def _overlap(ours: Sequence[Any], exact: Sequence[Any]) -> float:
    """Share of the exact hybrid hits that the approximate hybrid search returns too."""
    return len({h.chunk_id for h in ours} & {h.chunk_id for h in exact}) / max(1, len(exact))


class _WithDense:
    """A snapshot whose dense index is the given one (the exact baseline over the same chunks)."""

    def __init__(self, snapshot: Any, index: Any) -> None:
        self._snapshot, self._index = snapshot, index

    def dense(self) -> Any:
        return self._index

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snapshot, name)


def faiss_bytes(index: Any) -> int:
    import faiss

    return int(faiss.serialize_index(index).size)


def build_clustered(path: Path, n_chunks: int, topics: int, threshold: int,
                    n_queries: int) -> tuple[Any, dict[str, Any]]:
    """The clustered knowledge base, with its build time and the IVF build phases the store logged."""
    import logging

    from bench.clustered_kb import clustered_kb
    from ingest.store.dense_index import DensePolicy

    phases: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            phases.append(record.getMessage())

    logger = logging.getLogger("ingest.store.dense_index")
    logger.addHandler(Collect())
    logger.setLevel(logging.INFO)
    started = time.perf_counter()
    planted = clustered_kb(path, n_chunks, topics, DensePolicy(ann_threshold=threshold), n_queries=n_queries)
    return planted, {"kb_build_s": round(time.perf_counter() - started, 1), "ivf_build": phases}


def read_queries(path: Path, limit: int) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()][:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, help="an existing knowledge base")
    parser.add_argument("--queries", type=Path, help="queries JSONL for --kb")
    parser.add_argument("--synthetic", type=int, help="build a synthetic knowledge base of this many chunks")
    parser.add_argument("--clustered", type=int, help="IVF vs exact on a clustered knowledge base of this many chunks")
    parser.add_argument("--topics", type=int, default=2000, help="clusters of --clustered")
    parser.add_argument("--ann-threshold", type=int, default=100_000, help="approximate search from this size")
    parser.add_argument("--n", type=int, default=200, help="queries timed")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument("--embedder", help="--synthetic: record the knowledge base as this embedder's (e.g. "
                                           "e5-small), so that queries are embedded by the real model")
    args = parser.parse_args()
    if args.clustered:
        with tempfile.TemporaryDirectory() as scratch:
            planted, build = build_clustered(Path(scratch) / "kb", args.clustered, args.topics, args.ann_threshold,
                                             args.n)
            result = {"kb": f"clustered:{args.clustered}:{args.topics}", "k": args.k, **build,
                      **clustered_side(Path(scratch) / "kb", planted, args.k)}
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as scratch:
        if args.synthetic:
            started = time.perf_counter()
            kb = synthetic_kb(Path(scratch) / "kb", args.synthetic, embedder=args.embedder)
            print(f"built {args.synthetic} chunks in {time.perf_counter() - started:.1f}s", file=sys.stderr)
            rng = random.Random(1)
            queries = [" ".join(rng.choice(WORDS[:5000]) for _ in range(6)) for _ in range(args.n)]
        else:
            kb, queries = args.kb, read_queries(args.queries, args.n)
        result = {"kb": str(args.kb or f"synthetic:{args.synthetic}"), "k": args.k, "embedder": args.embedder,
                  "llmapp_hybrid": llmapp_side(kb, queries, args.k)}
        if not args.skip_langchain:
            result["langchain_ensemble"] = langchain_side(kb, queries, args.k)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
