"""Benchmark: `llmapp classify` against `transformers.pipeline("text-classification", batch_size=32)`.

Same model, same sentences (the first N of SST-2 train), each variant in its own process (so peak RSS is its
own): rows/s, the speed-up over the pipeline, label agreement with the pipeline, peak RSS.

Default model: the shipped MiniLM (all-MiniLM-L6-v2) as BertForSequenceClassification(num_labels=2), seed 0,
with its pooler and classification head fitted for a few seconds on the frozen [CLS] states of 1,000 *other*
SST-2 sentences (the rows after the benchmark rows), so that the logits have realistic margins (a random head's
near-ties make int8 agreement meaningless). Saved once to /tmp/llmapp-bench-minilm-sst2. Its encoder was never
trained for the task, so its margins are thin: a worst case for reduced precision. `--model` takes any HF
sequence-classification folder instead, e.g. a fine-tuned run exported with `llmapp finetune export --merge`.

int8 comes twice: calibrated on the first 256 rows (what `llmapp classify --int8` does) and uncalibrated
(`Classifier.quantized()` with no texts). Calibration, like model load, is outside the timing.

    .venv/bin/python bench/classify.py [--rows 10000] [--data ../shared/eval/sst2/train.tsv]
    llmapp finetune export runs/sst2-lora --merge --out /tmp/sst2-merged
    .venv/bin/python bench/classify.py --model /tmp/sst2-merged --skip 2000   # rows the run never trained on
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path, and bench/ingest.py would shadow the `ingest` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `bench.measure`
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_DIR = Path("/tmp/llmapp-bench-minilm-sst2")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sst2" / "train.tsv"
VARIANTS = ("pipeline", "llmapp", "llmapp-int8", "llmapp-int8-uncal", "llmapp-bf16", "llmapp-file")
HEAD_ROWS = 1000


def read_sst2(path: Path, start: int, count: int) -> tuple[list[str], list[int]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1 + start : 1 + start + count]
    pairs = [line.rsplit("\t", 1) for line in lines]
    return [text.strip() for text, _ in pairs], [int(label) for _, label in pairs]


def build_model(data: Path, bench_rows: int) -> None:
    """MiniLM + pooler and 2-label head fitted on frozen [CLS] states of sentences outside the benchmark rows."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from llmcommon.models import minilm_path

    torch.manual_seed(0)
    base = minilm_path()
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(base)
    texts, labels = read_sst2(data, bench_rows, HEAD_ROWS)
    with torch.no_grad():
        cls = torch.cat([model.bert(**tokenizer(texts[i : i + 64], padding=True, return_tensors="pt"))[0][:, 0]
                         for i in range(0, len(texts), 64)])
    # pooler + classifier, as fine-tuning would train them, on the frozen [CLS] states
    head = torch.nn.Sequential(model.bert.pooler.dense, torch.nn.Tanh(), model.classifier)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3, weight_decay=1e-4)
    target = torch.tensor(labels)
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(cls), target)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (head(cls).argmax(1) == target).float().mean().item()
    print(f"head fitted on {len(texts)} sentences: train accuracy {accuracy:.3f}", file=sys.stderr)
    model.save_pretrained(MODEL_DIR)
    tokenizer.save_pretrained(MODEL_DIR)


def run_variant(variant: str, texts: list[str], work: Path, model: Path) -> dict[str, Any]:
    """Runs in a child process: times one variant and writes its labels to `work`."""
    from bench.measure import peak_rss_mb
    from llmapp.classify.model import Classifier, set_threads

    warm = texts[:64]
    if variant == "pipeline":
        from transformers import pipeline

        set_threads(None)
        pipe = pipeline("text-classification", model=str(model), device="cpu")
        pipe(warm, batch_size=32)
        started = time.perf_counter()
        labels = [r["label"] for r in pipe(texts, batch_size=32)]
    elif variant != "llmapp-file":
        classifier = Classifier.from_pretrained(model)
        if variant == "llmapp-int8":
            classifier = classifier.quantized(calibration=texts[:256])
        elif variant == "llmapp-int8-uncal":
            classifier = classifier.quantized()
        elif variant == "llmapp-bf16":
            classifier = classifier.bfloat16()
        classifier.predict(warm)
        started = time.perf_counter()
        labels = [p.label for p in classifier.predict(texts, batch_size=64)]
    else:
        labels, started = _file_variant(texts, work, model)
    seconds = time.perf_counter() - started
    (work / f"{variant}.json").write_text(json.dumps(labels))
    return {"variant": variant, "rows": len(texts), "seconds": round(seconds, 2),
            "rows_per_s": round(len(texts) / seconds, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _file_variant(texts: list[str], work: Path, model: Path) -> tuple[list[str], float]:
    """The CLI path end to end: TSV in, JSONL out, fsync + progress file per window."""
    import csv

    from llmapp.classify import Classifier, OutputSpec, classify_file

    source, out = work / "in.tsv", work / "out.jsonl"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["id", "sentence"])
        writer.writerows(enumerate(texts))
    classifier = Classifier.from_pretrained(model)
    classifier.predict(texts[:64])
    started = time.perf_counter()
    classify_file(classifier, source, out, OutputSpec("sentence"), {}, batch_size=64, overwrite=True)
    return [json.loads(line)["label"] for line in out.open(encoding="utf-8")], started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/llmapp-bench-classify"))
    parser.add_argument("--model", type=Path, help="HF sequence-classification folder (default: fitted MiniLM head)")
    parser.add_argument("--skip", type=int, default=0, help="data rows to skip before the benchmark rows")
    args = parser.parse_args()
    texts, _ = read_sst2(args.data, args.skip, args.rows)
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model or MODEL_DIR
    if args.variant:
        print(json.dumps(run_variant(args.variant, texts, args.work, model)))
        return
    if args.model is None and not (MODEL_DIR / "config.json").is_file():
        build_model(args.data, args.skip + args.rows)
    results = {}
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--variant", variant, "--rows", str(args.rows), "--data",
                   str(args.data), "--work", str(args.work), "--model", str(model), "--skip", str(args.skip)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(results[variant]), file=sys.stderr, flush=True)
    report(results, args.work, model)


def report(results: dict[str, dict[str, Any]], work: Path, model: Path) -> None:
    reference = json.loads((work / "pipeline.json").read_text())
    base = results["pipeline"]["rows_per_s"]
    print(f"{'variant':<18} {'rows/s':>8} {'x pipeline':>10} {'agreement':>10} {'peak RSS MB':>12}")
    for variant, result in results.items():
        labels = json.loads((work / f"{variant}.json").read_text())
        agreed = sum(a == b for a, b in zip(labels, reference, strict=True)) / len(reference)
        result.update(speedup=round(result["rows_per_s"] / base, 2), agreement=round(agreed, 4))
        print(f"{variant:<18} {result['rows_per_s']:>8.1f} {result['speedup']:>10.2f} {agreed:>10.2%} "
              f"{result['peak_rss_mb']:>12.0f}")
    print(json.dumps({"model": str(model), "threads": _threads(), "results": results}))


def _threads() -> int:
    import torch

    from llmapp.classify.model import set_threads

    set_threads(None)
    return torch.get_num_threads()


if __name__ == "__main__":
    main()
