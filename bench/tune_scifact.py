"""`kb tune` on SciFact: hybrid and dense nDCG@10 of the 809 judged (train) queries before and after tuning on
pseudo-queries only, each phase's time and the loop's peak RSS, in one run (so machine load affects both sides).

    .venv/bin/python -P bench/tune_scifact.py ../shared/eval/scifact --home /tmp/tune-bench [--embedder minilm]
    .venv/bin/python -P bench/tune_scifact.py --squad ../shared/eval/cmrc2018/cmrc2018_trial.json --home /tmp/tune-cmrc

--squad runs the same on a SQuAD-format file (CMRC 2018: contexts are the corpus, every question judged; issue
16 asks for no hybrid regression there and the dense gain).

The "before" figures (hybrid, dense, lexical) are also `llmapp eval retrieval --beir ... --split train --compare`
on the same knowledge base: one ingest serves both.

(-P: bench/ingest.py would otherwise hide the ingest package.)

The judged queries never train: the gate decides on the held-out pseudo-queries (dry run); the "after" figures
are measured over the staged vectors of the tuned embedder, exactly what a switch would make live.
The loop runs as a user runs it, `llmapp kb tune KB --dry-run` in its own process, so its peak RSS is the loop's
alone (this process also holds the ingest and the before/after retrievers). Re-running with the same --home
reuses the knowledge base (the ingest finds nothing changed) and a finished tuning run with the same settings;
delete HOME/runs to train again.
Target (issue 16): hybrid +0.02 nDCG@10 over the untuned embedder, dense more; whole loop <= 30 min, RSS < 3 GB.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from ingest.embed import SentenceTransformerEmbedder, load_embedder
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase, reembed
from llmapp.eval_retrieval import evaluate, read_benchmark, squad_to_beir
from llmapp.retrieve import DenseRetriever, HybridRetriever, open_retriever
from llmapp.retrieve.coverage import kb_coverage
from llmapp.settings import Settings


def run_loop(home: Path, kb: Path, sample: int, epochs: float) -> tuple[dict, float]:
    """`llmapp kb tune KB --dry-run --json` in a child process: its report and its peak RSS in MB."""
    command = [sys.executable, "-m", "llmapp", "kb", "tune", str(kb), "--dry-run", "--json",
               "--sample", str(sample), "--epochs", str(epochs)]
    done = subprocess.run(command, env={**os.environ, "LLMAPP_HOME": str(home)}, stdout=subprocess.PIPE,
                          text=True, check=True)
    return json.loads(done.stdout), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("beir", type=Path, nargs="?", help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--squad", type=Path, help="instead of a BEIR folder: a SQuAD-format file (CMRC 2018)")
    parser.add_argument("--split", default="train", help="the qrels split that judges (default train)")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--embedder", default="e5-small", help="the default encoder of new knowledge bases")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("llmapp.tune").setLevel(logging.INFO)
    settings = Settings(home=args.home)
    if args.squad:
        args.beir, args.split = squad_to_beir(args.squad, args.home / "beir"), "test"
    if args.beir is None:
        parser.error("give a BEIR folder or --squad FILE")
    kb = args.home / ("squad" if args.squad else "scifact")
    started = time.perf_counter()
    ingest(kb, [args.beir / "corpus.jsonl"], load_embedder(args.embedder), IngestOptions(progress=True))
    ingest_s = time.perf_counter() - started
    bench = read_benchmark(args.beir / "queries.jsonl", args.beir / "qrels" / f"{args.split}.tsv")
    before = {mode: evaluate(r.search_many, bench) for mode in ("hybrid", "dense", "lexical")
              for r in [open_retriever(settings, kb, mode=mode)]}
    report, loop_rss = run_loop(args.home, kb, args.sample, args.epochs)
    tuned = SentenceTransformerEmbedder(Path(report["run_dir"]) / "model", precision=settings.embed_precision)
    view = reembed.staged_view(KnowledgeBase.open(kb), tuned.spec())
    after = {"hybrid": evaluate(HybridRetriever(view, tuned, kb_coverage(view, tuned, None)).search_many, bench),
             "dense": evaluate(DenseRetriever(view, tuned).search_many, bench)}
    result = {
        "embedder": args.embedder, "ingest_s": round(ingest_s, 1), "loop_s": round(sum(report["seconds"].values()), 1),
        "phases_s": report["seconds"], "loop_peak_rss_mb": round(loop_rss, 1), "gate": report["reason"],
        "queries": report["queries"], "negatives": report["negatives"],
        "ndcg@10": {m: {"before": before[m]["ndcg@10"], "after": after[m]["ndcg@10"],
                        "gain": round(after[m]["ndcg@10"] - before[m]["ndcg@10"], 4)} for m in after},
        "recall@10": {m: {"before": before[m]["recall@10"], "after": after[m]["recall@10"]} for m in after},
        "lexical_before": before["lexical"],
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
