"""Does the default answer's citation hold the answer? 20 questions per language on the seed articles.

    python -P bench/grounding.py --kb seed                        # live: SmolLM2 drafts, then grounding
    python -P bench/grounding.py --kb seed --backend extractive   # the extractive backend alone
    python -P bench/grounding.py --kb seed --drafts d1.jsonl d2.jsonl   # replay recorded SmolLM2 drafts

The knowledge base is /work/shared/corpus ingested (`llmapp ingest ../shared/corpus --kb seed`). Questions and
reference answers: bench/data/seed_questions.jsonl (written by reading the articles; an answer string is a
span the passage holding the answer contains). A question counts as held when a cited passage contains one of
its answer strings. Printed per language, next to the baseline: the generator's draft as it was shown before
grounding (its own [n] markers, or the passage matching an unmarked answer).

Drafts (bench/ground_drafts.py output) hold the passages the generator saw, so a replay grounds exactly what
a live run would, without the minutes per question a busy CPU takes to generate them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from llmapp.chains.citations import attribute, check_citations
from llmapp.chains.grounding import Grounder
from llmapp.chains.packing import Passage
from llmapp.chains.support import SupportCheck
from llmapp.generate.extractive import ExtractiveGenerator
from llmapp.hits import Hit

QUESTIONS = Path(__file__).parent / "data" / "seed_questions.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def holds(cited_texts: list[str], answers: list[str]) -> bool:
    squash = [" ".join(t.split()).replace(" ", "") for t in cited_texts]
    return any(a.replace(" ", "") in text for a in answers for text in squash)


def baseline_cited(draft: str, passages: list[str]) -> list[int]:
    """What the chain cited before grounding: the draft's markers, or the passage an unmarked draft matches."""
    checked = check_citations(draft, len(passages))
    return checked.cited or (attribute(checked.text, passages)[:1] if checked.text else [])


def passages_of(draft: dict[str, Any]) -> list[Passage]:
    return [Passage(p["n"], Hit(p["n"], 1.0, p["text"], p["source"], p["source"], p["n"], 0, (0, 0)), p["text"], False)
            for p in draft["passages"]]


def replay(drafts: list[dict[str, Any]], questions: dict[str, dict[str, Any]], encoder: Any) -> list[dict[str, Any]]:
    grounder = Grounder(SupportCheck(encoder), ExtractiveGenerator(encoder=encoder))
    rows = []
    for draft in tqdm(drafts, desc="grounding", file=sys.stderr):
        item = questions.get(draft["question"])
        if item is None:
            continue
        passages = passages_of(draft)
        grounded = grounder.ground(draft["question"], draft["draft"], passages)
        texts = [p.text for p in passages]
        rows.append({"lang": item["lang"], "grounding": grounded.grounding,
                     "held": holds([texts[n - 1] for n in grounded.cited], item["answers"]),
                     "baseline": holds([texts[n - 1] for n in baseline_cited(draft["draft"], texts)], item["answers"]),
                     "retrieved": holds(texts, item["answers"])})
    return rows


def live(kb: str, backend: str | None, questions: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    from llmapp.chains import QAChain
    from llmapp.generate import GeneratorConfig, open_generator
    from llmapp.retrieve import open_retriever
    from llmapp.settings import Settings

    chain = QAChain(open_retriever(Settings(), kb), open_generator(GeneratorConfig(backend=backend)), k=k)
    rows = []
    for item in tqdm(questions, desc="answering", file=sys.stderr):
        *parts, answer = chain.run(item["question"])
        draft = "".join(p.delta for p in parts)
        texts = [c.text for c in answer.citations]
        shown = [h.text for h in answer.hits]
        rows.append({"lang": item["lang"], "grounding": answer.grounding, "held": holds(texts, item["answers"]),
                     "baseline": holds([shown[n - 1] for n in baseline_cited(draft, shown) if n <= len(shown)],
                                       item["answers"]),
                     "retrieved": holds(shown, item["answers"])})
    return rows


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lang in ("zh", "en"):
        mine = [r for r in rows if r["lang"] == lang]
        if not mine:
            continue
        n = len(mine)
        out[lang] = {"n": n, "held": sum(r["held"] for r in mine) / n,
                     "baseline_held": sum(r["baseline"] for r in mine) / n,
                     "retrieved": sum(r["retrieved"] for r in mine) / n,
                     "grounding": dict(Counter(r["grounding"] for r in mine))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", default="seed")
    parser.add_argument("--backend", help="default: the shipped SmolLM2")
    parser.add_argument("--drafts", nargs="*", type=Path, help="replay these bench/ground_drafts.py outputs")
    parser.add_argument("-k", type=int, default=5, help="live only: passages per question (default 5, as `ask`)")
    parser.add_argument("--encoder", help="replay only: an embedder name for the support check (default: none)")
    args = parser.parse_args()
    questions = read_jsonl(QUESTIONS)
    if args.drafts:
        encoder = None
        if args.encoder:
            from ingest.embed import load_embedder

            encoder = load_embedder(args.encoder)
        drafts = [d for path in args.drafts for d in read_jsonl(path)]
        rows = replay(drafts, {q["question"]: q for q in questions}, encoder)
    else:
        rows = live(args.kb, args.backend, questions, args.k)
    print(json.dumps(report(rows), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
