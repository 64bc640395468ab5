"""Two embedders on one BEIR set, paired: hybrid (or dense) nDCG@10 of each judged query under each embedder,
the mean gain of B over A and its paired bootstrap 95% interval (the `kb tune` gate's statistic), in one run.

    .venv/bin/python -P bench/embedder_compare.py ../shared/eval/scifact --split train --a minilm --b e5-small \\
        [--home /tmp/compare] [--mode hybrid]

Each embedder's knowledge base is ingested once under --home (an unchanged re-run embeds nothing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ingest.embed import load_embedder
from ingest.pipeline import IngestOptions, ingest
from llmapp.eval_retrieval import DEPTH, beir_files, document_ranking, read_benchmark, score_ranking
from llmapp.retrieve import open_retriever
from llmapp.settings import Settings
from llmapp.tune.gate import paired_bootstrap


def per_query(settings: Settings, kb: Path, queries: list[str], qrels: list[dict[str, int]],
              mode: str) -> list[float]:
    rankings = []
    with open_retriever(settings, kb, mode=mode) as retriever:
        for begin in range(0, len(queries), 64):  # chunks of a document collapse: more chunks than documents
            rankings += retriever.search_many(queries[begin : begin + 64], k=DEPTH + DEPTH // 2)
    return [score_ranking(document_ranking(hits)[:DEPTH], judged)["ndcg@10"]
            for hits, judged in zip(rankings, qrels, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("beir", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--a", default="minilm")
    parser.add_argument("--b", default="e5-small")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "dense"))
    parser.add_argument("--home", type=Path, default=Path("/tmp/llmapp-embedder-compare"))
    args = parser.parse_args()
    corpus, queries_path, qrels_path = beir_files(args.beir, args.split)
    bench = read_benchmark(queries_path, qrels_path)
    ids = list(bench.queries)
    texts, judged = [bench.queries[i] for i in ids], [bench.qrels[i] for i in ids]
    settings = Settings(home=args.home)
    scores = {}
    for name in (args.a, args.b):
        kb = args.home / f"{args.beir.name}-{name}"
        ingest(kb, [corpus], load_embedder(name), IngestOptions(progress=True))
        scores[name] = per_query(settings, kb, texts, judged, args.mode)
    gain, low, high = paired_bootstrap(scores[args.a], scores[args.b])
    print(json.dumps({"set": f"{args.beir.name}/{args.split}", "mode": args.mode, "queries": len(ids),
                      f"ndcg@10 {args.a}": round(sum(scores[args.a]) / len(ids), 4),
                      f"ndcg@10 {args.b}": round(sum(scores[args.b]) / len(ids), 4),
                      "gain b-a": round(gain, 4), "95% CI": [round(low, 4), round(high, 4)]}, indent=2))


if __name__ == "__main__":
    main()
