"""The support check's precision and recall on SmolLM2's real answer sentences, labelled by reading.

    python -P bench/support_check.py                       # lexical + required facts (no encoder)
    python -P bench/support_check.py --encoder e5-small    # plus the knowledge base's default embedder
    python -P bench/support_check.py --sweep               # the threshold sweep behind LEXICAL_THRESHOLD
    python -P bench/support_check.py --encoder e5-small --sweep   # thresholds x semantic weights

bench/data/support_drafts.jsonl: SmolLM2's drafts with the passages it was given (bench/ground_drafts.py over
the seed articles and CMRC 2018). bench/data/support_labels.jsonl: one line per draft sentence,
{"draft", "sentence", "text", "label": "supported" | "unsupported", "why", "source"}: supported when what the
sentence states is stated by one of the passages it was given. "source" is "smollm2" for SmolLM2's sentences
and "paraphrase" for the labeller's own restatements of a passage (drafts of set "paraphrase", their "lang"
the sentences' language), added because SmolLM2 wrote almost no supported sentence. The baseline is the
chain before grounding, which showed every sentence. "Rejected" is the positive class of the first figures:
the check exists to catch unsupported sentences. shown_precision and supported_recall are the precision and
recall of "supported": how many of the sentences it lets through are supported, and how many supported
sentences it lets through.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmapp.chains.grounding import draft_sentences, states_nothing
from llmapp.chains.support import SupportCheck, content_terms, subject_names

DATA = Path(__file__).parent / "data"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class CachedEncoder:
    """The encoder with every text embedded once: the sweep judges the same sentences and passages many times."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.vectors: dict[str, Any] = {}

    def embed(self, texts: Sequence[str]) -> Any:
        new = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if new:
            self.vectors.update(zip(new, self.encoder.embed(new), strict=True))
        return np.stack([self.vectors[t] for t in texts])


def verdicts(check: SupportCheck, drafts: list[dict[str, Any]], labels: list[dict[str, Any]]) -> list[bool]:
    """True where the check shows the sentence (some passage supports it and it states something)."""
    shown = []
    for label in labels:
        draft = drafts[label["draft"]]
        text, _ = draft_sentences(draft["draft"], len(draft["passages"]))[label["sentence"]]
        assert text == label["text"], f"label {label} no longer matches the draft's sentence {text!r}"
        supports = check.judge([text], [p["text"] for p in draft["passages"]], subject_names(draft["question"]))[0]
        supported = any(check.supported(s) for s in supports)
        shown.append(supported and not states_nothing(text, content_terms(draft["question"])))
    return shown


def scores(shown: list[bool], labels: list[dict[str, Any]]) -> dict[str, Any]:
    truth = [label["label"] == "unsupported" for label in labels]
    rejected = [not s for s in shown]
    caught = sum(r and t for r, t in zip(rejected, truth, strict=True))
    kept_good = sum(s and not t for s, t in zip(shown, truth, strict=True))
    return {"n": len(labels), "unsupported": sum(truth), "supported": len(truth) - sum(truth),
            "rejection_precision": caught / max(1, sum(rejected)), "rejection_recall": caught / max(1, sum(truth)),
            "shown_precision": kept_good / max(1, sum(shown)),
            "supported_recall": kept_good / max(1, len(truth) - sum(truth))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", help="an embedder name (minilm, a folder); default: none")
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    drafts = read_jsonl(DATA / "support_drafts.jsonl")
    labels = read_jsonl(DATA / "support_labels.jsonl")
    encoder = None
    if args.encoder:
        from ingest.embed import load_embedder

        encoder = CachedEncoder(load_embedder(args.encoder))
    by_lang = {lang: [x for x in labels if drafts[x["draft"]]["lang"] == lang] for lang in ("zh", "en")}
    report: dict[str, Any] = {"baseline (every sentence shown)": scores([True] * len(labels), labels)}
    check = SupportCheck(encoder)
    report["support check"] = scores(verdicts(check, drafts, labels), labels)
    for lang, mine in by_lang.items():
        if mine:
            report[f"support check, {lang}"] = scores(verdicts(check, drafts, mine), mine)
    if args.sweep:
        weights = (0.3, 0.5, 0.7) if encoder is not None else (SupportCheck().semantic_weight,)
        for weight in weights:
            for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
                swept = SupportCheck(encoder, threshold=threshold, semantic_weight=weight)
                name = f"threshold {threshold}" + (f", semantic weight {weight}" if encoder is not None else "")
                report[name] = scores(verdicts(swept, drafts, labels), labels)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
