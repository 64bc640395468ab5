"""Coverage probe margins of the shipped embedders on Chinese and English text (llmapp/retrieve/coverage.py).

64 CMRC 2018 contexts (first 300 characters) and 64 SciFact abstracts; each text's middle passage is embedded
as a query and compared with all 64 texts. Prints, per embedder and language, the mean cosine with the own text
and with the others, the raw margin, the standardized margin coverage uses, and how often the own text ranks
first.

    .venv/bin/python bench/probe_margins.py --cmrc ../shared/eval/cmrc2018/cmrc2018_trial.json \\
        --scifact ../shared/eval/scifact/corpus.jsonl minilm e5-small
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def samples(cmrc: Path, scifact: Path) -> dict[str, list[str]]:
    contexts = [p["context"][:300] for a in json.loads(cmrc.read_text(encoding="utf-8"))["data"]
                for p in a["paragraphs"]]
    abstracts = [json.loads(line)["text"][:1200] for line in scifact.read_text(encoding="utf-8").splitlines()]
    return {"zh": random.Random(0).sample(contexts, 64), "en": random.Random(0).sample(abstracts, 64)}


def report(name: str, texts: dict[str, list[str]]) -> None:
    from ingest.embed import load_embedder
    from llmapp.retrieve.coverage import probe, standardized_margin

    embedder = load_embedder(name, precision="float32")
    for language, chosen in texts.items():
        chunks = embedder.embed(chosen)
        similarity = embedder.embed([probe(t, language) for t in chosen], role="query") @ chunks.T  # type: ignore[arg-type]
        own = np.diag(similarity)
        others = (similarity.sum(axis=1) - own) / (len(own) - 1)
        hit = float(np.mean(own > (similarity - 10 * np.eye(len(own))).max(axis=1)))
        print(f"{name:<10} {language}  own {own.mean():.3f}  others {others.mean():.3f}  raw margin "
              f"{(own - others).mean():.3f}  standardized {standardized_margin(similarity):.2f}  hit@1 {hit:.3f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmrc", type=Path, required=True)
    parser.add_argument("--scifact", type=Path, required=True)
    parser.add_argument("embedders", nargs="+")
    args = parser.parse_args()
    texts = samples(args.cmrc, args.scifact)
    for name in args.embedders:
        report(name, texts)


if __name__ == "__main__":
    main()
