"""Zero-shot classification with the shipped SmolLM2 (`llmapp classify --labels ... --zero-shot llm`): share of
rows labelled and accuracy on the first N rows of ChnSentiCorp dev (Chinese) and SST-2 train (English).

Two ways to get a label from the same prompt, in one run: `choice` (what llmapp does with a local model: each
label's likelihood as the reply) and `generate` (the baseline: let the model write up to 16 tokens and match
a label in the reply, as llmapp did before).

    .venv/bin/python bench/zero_shot.py [--rows 40] [--backend llamacpp|transformers] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llmapp.classify.zero_shot import LlmZeroShot, parse_labels  # noqa: E402
from llmapp.generate import GeneratorConfig, open_generator  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
SETS = {  # name: (file, text column, label column, --labels, label for "1")
    "chnsenticorp": (SHARED / "chnsenticorp/dev.tsv", "text_a", "label", "正面,负面", "正面"),
    "sst2": (SHARED / "sst2/train.tsv", "sentence", "label", "positive,negative", "positive"),
}


class GenerateOnly:
    """The generator without its constrained choice: the reply is written, then matched."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator

    def generate(self, messages: Any, **opts: Any) -> str:
        return str(self._generator.generate(messages, **opts))


def rows(path: Path, text: str, label: str, n: int) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row[text], row[label]) for _, row in zip(range(n), reader, strict=False)]


def evaluate(scorer: LlmZeroShot, data: list[tuple[str, str]], positive: str) -> dict[str, float]:
    start = time.perf_counter()
    scores = scorer.scores([text for text, _ in data])
    seconds = time.perf_counter() - start
    labelled = [i for i in range(len(data)) if not (scores[i] != scores[i]).all()]  # NaN rows named no label
    gold = [positive if label == "1" else next(x for x in scorer.labels if x != positive) for _, label in data]
    correct = sum(scorer.labels[int(scores[i].argmax())] == gold[i] for i in labelled)
    majority = max(gold.count(x) for x in scorer.labels) / len(data)
    return {"rows": len(data), "labelled": len(labelled) / len(data), "accuracy": correct / len(data),
            "majority_baseline": majority, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--backend", default=None, help="llamacpp (default when installed) or transformers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    generator = open_generator(GeneratorConfig(backend=args.backend))
    results: dict[str, dict[str, float]] = {}
    for name, (path, text, label, labels, positive) in SETS.items():
        data = rows(path, text, label, args.rows)
        for method, model in (("choice", generator), ("generate", GenerateOnly(generator))):
            results[f"{name} {method}"] = evaluate(LlmZeroShot(model, parse_labels(labels)), data, positive)
    if args.json:
        print(json.dumps({"backend": generator.name, "rows": args.rows, "results": results}, indent=2))
        return
    print(f"SmolLM2-135M ({generator.name}), first {args.rows} rows of each set")
    print(f"{'set, method':<24}{'labelled':>10}{'accuracy':>10}{'majority':>10}{'seconds':>9}")
    for key, r in results.items():
        print(f"{key:<24}{r['labelled']:>10.1%}{r['accuracy']:>10.1%}{r['majority_baseline']:>10.1%}"
              f"{r['seconds']:>9.1f}")


if __name__ == "__main__":
    main()
