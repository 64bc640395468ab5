"""Collect the shipped generator's real draft answers (before grounding) with the passages it was given.

    python -P bench/ground_drafts.py --kb seed --questions bench/data/seed_questions.jsonl --out drafts.jsonl
    python -P bench/ground_drafts.py --kb PATH --squad cmrc2018_trial.json --limit 30 --max-tokens 64 \
        --out drafts.jsonl

One JSON line per question: {"question", "draft", "passages": [{"n", "source", "text"}]}. The drafts are
split into sentences and labelled by hand (supported / unsupported by their passages) into
bench/data/support_labels.jsonl, which bench/support_check.py scores the support check against.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from llmapp.chains import QAChain
from llmapp.chains.qa import QA_OPTIONS, close_to_best
from llmapp.generate import GeneratorConfig, open_generator
from llmapp.language import detect_language
from llmapp.retrieve import open_retriever
from llmapp.settings import Settings


def questions(args: argparse.Namespace) -> list[str]:
    if args.squad:
        from llmapp.eval_qa import read_squad

        return [item.question for item in read_squad(Path(args.squad), args.limit)]
    lines = Path(args.questions).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][: args.limit]


def draft(chain: QAChain, question: str) -> dict[str, object]:
    template = chain.prompts.get("qa", detect_language(question))
    hits = close_to_best(chain.retriever.search(question, k=chain.k), chain.min_relative_score)
    passages = chain._pack(question, hits, template)
    text = "".join(chain._generate(question, passages, template))
    shown = [{"n": p.n, "source": p.hit.source, "text": p.text} for p in passages]
    return {"question": question, "draft": text, "passages": shown}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", required=True)
    parser.add_argument("--questions")
    parser.add_argument("--squad")
    parser.add_argument("--limit", type=int)
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=QA_OPTIONS.max_tokens, help="eval qa uses 64")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    options = replace(QA_OPTIONS, max_tokens=args.max_tokens)
    chain = QAChain(open_retriever(Settings(), args.kb), open_generator(GeneratorConfig()), k=args.k, options=options)
    with open(args.out, "w", encoding="utf-8") as out:
        for question in tqdm(questions(args), desc="drafting", file=sys.stderr):
            out.write(json.dumps(draft(chain, question), ensure_ascii=False) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
