"""Retrieval quality of a Milvus knowledge base next to the local store, on the same corpus, in one run.

Both stores are ingested fresh through `ingest.pipeline.ingest` (same chunks, same vectors) and evaluated with
`llmapp.eval_retrieval.evaluate` in every mode; the table shows nDCG@10 and recall@10 per store and the
difference (target: |Milvus - local| <= 0.01 nDCG@10, issue 15). `--vectors-from KB` reuses the passage vectors
a local knowledge base already holds for the same texts (and embeds the rest), so a loaded machine need not
re-embed a corpus; queries are embedded once and shared by both stores and all modes.

    milvus-lite server --data-dir /tmp/mq --host 127.0.0.1 --port 19540 &
    .venv/bin/python bench/milvus_quality.py --milvus 127.0.0.1:19540 --embedder e5-small \\
        --squad ../shared/eval/cmrc2018/cmrc2018_trial.json
    .venv/bin/python bench/milvus_quality.py --milvus 127.0.0.1:19540 --embedder e5-small \\
        --beir ../shared/eval/scifact --vectors-from KB
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class ReusedVectors:
    """The real embedder, except that passages a local knowledge base already embedded are read from it."""

    def __init__(self, embedder: Any, kb: Path | None) -> None:
        self.inner = embedder
        self.name, self.dimension, self.max_tokens = embedder.name, embedder.dimension, embedder.max_tokens
        self.prompts = embedder.prompts
        self.known: dict[str, np.ndarray] = {}
        self.queries: dict[str, np.ndarray] = {}
        if kb is not None:
            from ingest.store import KnowledgeBase

            with KnowledgeBase.open(kb).snapshot() as snap:
                self.known = dict(snap.texts_with_vectors())
        self.reused = 0

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self.inner.token_offsets(text))

    def spec(self) -> dict[str, Any]:
        return dict(self.inner.spec())

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: Any = None,
              role: str = "passage") -> np.ndarray:
        # queries too are embedded once: both stores and every mode search with the same query vectors
        known = self.known if role == "passage" else self.queries
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self.inner.embed(missing, batch_size, progress, role), strict=True))
        if role == "passage":
            self.reused += len(texts) - len(missing)
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)


def main() -> None:
    args = _arguments()
    from ingest.embed import load_embedder
    from ingest.pipeline import IngestOptions, ingest
    from ingest.store.backend import open_store
    from llmapp.eval_retrieval import beir_files, evaluate, read_benchmark, squad_to_beir
    from llmapp.retrieve import build_retriever

    embedder = ReusedVectors(load_embedder(args.embedder), args.vectors_from)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.beir if args.beir else squad_to_beir(args.squad, Path(scratch) / "beir")
        corpus, queries, qrels = beir_files(folder, args.split if args.beir else "test")
        benchmark = read_benchmark(queries, qrels)
        if args.sample:
            chosen = sorted(benchmark.queries)[: args.sample]
            benchmark = type(benchmark)({q: benchmark.queries[q] for q in chosen},
                                        {q: benchmark.qrels[q] for q in chosen})
        stores = {"local": Path(scratch) / "kb", "milvus": f"milvus://{args.milvus}/q{uuid.uuid4().hex[:12]}"}
        results: dict[str, dict[str, dict[str, float]]] = {}
        for label, location in stores.items():
            started = time.perf_counter()
            ingest(location, [corpus], embedder, IngestOptions(progress=False))  # type: ignore[arg-type]
            print(f"{label}: ingested in {time.perf_counter() - started:.1f}s "
                  f"({embedder.reused} passage vectors reused so far)", file=sys.stderr)
            base = open_store(location)
            results[label] = {}
            for mode in args.modes:
                started = time.perf_counter()
                loader = None if mode == "lexical" else (lambda name: embedder)  # noqa: ARG005 - one embedder
                with build_retriever(base, loader, mode) as retriever:  # type: ignore[arg-type]
                    results[label][mode] = evaluate(retriever.search_many, benchmark)
                print(f"{label} {mode}: {time.perf_counter() - started:.1f}s", file=sys.stderr)
            if label == "milvus" and not args.keep:
                base.drop()  # type: ignore[attr-defined]
    _table(results, len(benchmark.queries), args)


def _table(results: dict[str, dict[str, dict[str, float]]], n: int, args: argparse.Namespace) -> None:
    print(f"{args.squad or args.beir}: {n} queries, embedder {args.embedder}")
    print(f"{'mode':<8}{'local nDCG@10':>15}{'milvus nDCG@10':>16}{'diff':>9}{'local R@10':>12}{'milvus R@10':>13}")
    for mode in args.modes:
        here, there = results["local"][mode], results["milvus"][mode]
        print(f"{mode:<8}{here['ndcg@10']:>15.4f}{there['ndcg@10']:>16.4f}{there['ndcg@10'] - here['ndcg@10']:>+9.4f}"
              f"{here['recall@10']:>12.4f}{there['recall@10']:>13.4f}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--squad", type=Path, help="SQuAD-format file (CMRC 2018)")
    source.add_argument("--beir", type=Path, help="BEIR folder (SciFact)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--milvus", required=True, help="HOST:PORT of a Milvus (or milvus-lite) server")
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--vectors-from", type=Path, help="a local knowledge base of the same corpus and embedder")
    parser.add_argument("--modes", nargs="+", default=["hybrid", "dense", "lexical"])
    parser.add_argument("--sample", type=int, default=0, help="only the first N judged queries (by id)")
    parser.add_argument("--keep", action="store_true", help="keep the Milvus collections")
    return parser.parse_args()


if __name__ == "__main__":
    main()
