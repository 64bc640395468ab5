"""Sweep the hybrid fusion on a benchmark: the queries are embedded once, each query's candidate pool (the top
100 of both retrievers) gets its exact dense and lexical scores once, and every fusion variant ranks the same
pools. Prints nDCG@10 (and hit@1) per variant, plus the coverage probe statistics of the knowledge base.

    python bench/fusion_sweep.py --kb KB --beir ../shared/eval/scifact --split train
    python bench/fusion_sweep.py --kb KB --squad ../shared/eval/cmrc2018/cmrc2018_trial.json

KB is an `llmapp eval retrieval` cache folder (LLMAPP_HOME/cache/eval/...) of the same corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# bench/ingest.py would shadow the ingest package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

POOL = 100
DEPTH = 10


def probe_stats(snapshot: Any, embedder: Any) -> dict[str, Any]:
    """Per language: mean cosine of a probe with its own chunk and with the other sampled chunks."""
    from llmapp.language import LANGUAGES, detect_language
    from llmapp.retrieve.coverage import probe

    rows = snapshot.texts_with_vectors()
    out: dict[str, Any] = {}
    for language in LANGUAGES:
        texts = [(t, v) for t, v in rows if len(t) > 40 and detect_language(t) == language]
        if len(texts) < 8:
            continue
        chosen = random.Random(0).sample(texts, min(64, len(texts)))
        probes = embedder.embed([probe(t, language) for t, _ in chosen], role="query")
        chunks = np.stack([v for _, v in chosen])
        sim = probes @ chunks.T
        own = np.diag(sim)
        others = (sim.sum(axis=1) - own) / (len(own) - 1)
        out[language] = {"own": float(own.mean()), "others": float(others.mean()),
                         "margin": float((own - others).mean())}
    return out


def pools(retriever: Any, queries: list[str], saved: Path | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each query's pool and its exact scores; query vectors are kept in `saved` (.npy) for the next run."""
    from llmapp.retrieve.base import embed_queries

    if saved is not None and saved.is_file():
        vectors = np.load(saved)
    else:
        vectors = embed_queries(retriever.embedder, queries)
        if saved is not None:
            np.save(saved, vectors)
    dense_ids, _ = retriever.dense.top(vectors, POOL, None)
    found = []
    for query, vector, ids in zip(queries, vectors, dense_ids, strict=True):
        lexical = retriever.lexical.scores(query, None)
        lexical_ids = retriever.lexical.index.chunk_ids[retriever.lexical.top(lexical, POOL)]
        pool = np.union1d(ids[ids >= 0], lexical_ids)
        found.append((pool, retriever.dense.scores_of(vector, pool), lexical[retriever.lexical.rows_of(pool)]))
    return found


def variants(baseline: float) -> dict[str, Any]:
    def raw(w: float) -> Any:
        return lambda d, lex: w * np.clip(d, 0, 1) + (1 - w) * lex

    def rebased(w: float) -> Any:
        return lambda d, lex: w * np.clip((d - baseline) / (1 - baseline), 0, 1) + (1 - w) * lex

    def minmax(w: float) -> Any:
        return lambda d, lex: w * (d - d.min()) / max(float(d.max() - d.min()), 1e-9) + (1 - w) * lex

    found: dict[str, Any] = {"lexical": lambda d, lex: lex, "dense": lambda d, lex: d}
    for w in (0.3, 0.4, 0.5, 0.6, 0.7):
        found[f"raw w={w}"] = raw(w)
        found[f"rebased w={w}"] = rebased(w)
        found[f"minmax w={w}"] = minmax(w)
    return found


def main() -> None:
    from llmapp.eval_retrieval import beir_files, mean_metrics, read_benchmark, score_ranking, squad_to_beir
    from llmapp.retrieve import open_retriever
    from llmapp.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=Path, required=True)
    parser.add_argument("--beir", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--squad", type=Path)
    parser.add_argument("--vectors", type=Path, help="Keep the query vectors in this .npy file for later runs.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.beir if args.beir else squad_to_beir(args.squad, Path(scratch))
        _, query_file, qrel_file = beir_files(folder, args.split if args.beir else "test")
        benchmark = read_benchmark(query_file, qrel_file)
    ids = [q for q in benchmark.queries if benchmark.queries[q].strip()]
    retriever = open_retriever(Settings(home=Path(tempfile.mkdtemp())), str(args.kb), mode="hybrid")
    stats = probe_stats(retriever.snapshot, retriever.embedder)
    print(json.dumps({"embedder": retriever.embedder.name, "coverage": retriever.coverage, "probes": stats}))
    found = pools(retriever, [benchmark.queries[q] for q in ids], args.vectors)
    docs = {cid: rec.doc_id for cid, rec in retriever.snapshot.chunks(
        int(c) for pool, _, _ in found for c in pool).items()}
    baseline = float(np.mean([s["others"] for s in stats.values()]))
    for name, fuse in variants(baseline).items():
        per_query = []
        for qid, (pool, dense, lexical) in zip(ids, found, strict=True):
            order = np.argsort(-fuse(dense, lexical), kind="stable")
            ranking = list(dict.fromkeys(docs[int(pool[i])] for i in order))[:DEPTH]
            per_query.append(score_ranking(ranking, benchmark.qrels[qid]))
        per_query += [score_ranking([], benchmark.qrels[q]) for q in benchmark.queries if q not in ids]
        metrics = mean_metrics(per_query)
        print(f"{name:<16} nDCG@10 {metrics['ndcg@10']:.4f}  hit@1 {metrics['hit@1']:.4f}", flush=True)


if __name__ == "__main__":
    main()
