"""Generation speed of each backend with the shipped SmolLM2, side by side with raw llama-cpp-python.

For every backend: load time, then the same QA prompts (rendered from prompts/qa.*.yaml over passages from
examples/kb), greedy, a fixed max_tokens, several rounds. Reported per backend: median time to first token,
median decoding speed (tokens after the first / time after the first; tokens counted with the same llama.cpp
tokenizer for every backend so rates compare), and the QA chain over fixed hits on top of the llamacpp backend
(the chain's own overhead per answer).

    .venv/bin/python bench/generate.py                 # all backends
    .venv/bin/python bench/generate.py --backends raw,llamacpp --rounds 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llmapp.generate import GeneratorConfig, open_generator  # noqa: E402
from llmapp.generate.models import smollm2_gguf  # noqa: E402
from llmapp.hits import Hit  # noqa: E402
from llmapp.prompts import PromptLibrary  # noqa: E402

QUESTIONS = [
    ("Does llmapp need a GPU?", ROOT / "examples/kb/en/faq.txt"),
    ("How do I keep a knowledge base up to date?", ROOT / "examples/kb/en/knowledge-bases.md"),
    ("知识库如何增量更新？", ROOT / "examples/kb/zh/知识库.md"),
]
Case = tuple[str, list[dict[str, Any]], list[dict[str, str]]]  # question, passages, rendered messages
Stream = Callable[[Case, int], Iterator[str]]


def passages_for(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [{"n": 1, "text": text[:900], "source": path.name}]


def cases() -> list[Case]:
    library = PromptLibrary()
    found = []
    for question, path in QUESTIONS:
        passages = passages_for(path)
        found.append((question, passages, library.for_text("qa", question).render(question=question,
                                                                                 passages=passages)))
    return found


def measure(stream: Stream, case: Case, max_tokens: int, count: Callable[[str], int]
            ) -> dict[str, float]:
    start = time.perf_counter()
    first: float | None = None
    text = ""
    for piece in stream(case, max_tokens):
        if first is None:
            first = time.perf_counter()
        text += piece
    end = time.perf_counter()
    tokens = count(text)
    first = first or end
    return {"ttft_ms": (first - start) * 1000, "tokens": tokens,
            "decode_tok_s": (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0,
            "total_ms": (end - start) * 1000}


def raw_llamacpp(threads: int, n_ctx: int) -> tuple[Stream, Callable[[str], int]]:
    from llama_cpp import Llama

    llama = Llama(model_path=str(smollm2_gguf()), n_ctx=n_ctx, n_threads=threads, verbose=False)

    def stream(case: Case, max_tokens: int) -> Iterator[str]:
        for chunk in llama.create_chat_completion(messages=case[2], max_tokens=max_tokens, temperature=0.0,
                                                  stream=True, repeat_penalty=1.1):
            content = chunk["choices"][0]["delta"].get("content")
            if content:
                yield content

    return stream, lambda text: len(llama.tokenize(text.encode(), add_bos=False, special=False))


def backend(name: str, threads: int, n_ctx: int) -> Stream:
    config = GeneratorConfig(backend=name, model="smollm2", threads=threads, context_window=n_ctx)
    generator = open_generator(config)

    def stream(case: Case, max_tokens: int) -> Iterator[str]:
        return generator.stream(case[2], max_tokens=max_tokens, repetition_penalty=1.1)  # type: ignore[arg-type]

    return stream


def chain_on_llamacpp(threads: int, n_ctx: int) -> Stream:
    """The full QA chain (retrieval over fixed hits, packing, prompt, citations) on the llamacpp backend."""
    from dataclasses import replace

    from llmapp.chains import QAChain
    from llmapp.chains.qa import QA_OPTIONS

    generator = open_generator(GeneratorConfig(backend="llamacpp", threads=threads, context_window=n_ctx))

    class Fixed:
        hits: list[Hit] = []

        def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None) -> list[Hit]:
            return self.hits

    retriever = Fixed()

    def stream(case: Case, max_tokens: int) -> Iterator[str]:
        question, passages, _ = case
        text = passages[0]["text"]
        retriever.hits = [Hit(1, 1.0, text, "p.txt", "p.txt", 1, 0, (0, len(text)))]
        chain = QAChain(retriever, generator, options=replace(QA_OPTIONS, max_tokens=max_tokens, stop=()))
        for part in chain.run(question):
            if not part.final:
                yield part.delta

    return stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="raw,llamacpp,chain,transformers,extractive")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    _, count = raw_llamacpp(1, 512)  # one tokenizer counts every backend's output
    rendered = cases()
    results: dict[str, dict[str, float]] = {}
    for name in args.backends.split(","):
        start = time.perf_counter()
        if name == "raw":
            stream = raw_llamacpp(args.threads, args.n_ctx)[0]
        elif name == "chain":
            stream = chain_on_llamacpp(args.threads, args.n_ctx)
        else:
            stream = backend(name, args.threads, args.n_ctx)
        load_s = time.perf_counter() - start
        stream(rendered[0], 4).__next__()  # warm-up: first call allocates buffers
        runs = [measure(stream, m, args.max_tokens, count) for _ in range(args.rounds) for m in rendered]
        results[name] = {"load_s": load_s, **{key: statistics.median(r[key] for r in runs) for key in runs[0]}}
    if args.json:
        print(json.dumps({"settings": vars(args), "results": results}, indent=2))
        return
    print(f"SmolLM2-135M Q4_1, {args.threads} threads, max_tokens {args.max_tokens}, medians of "
          f"{args.rounds} x {len(rendered)} prompts")
    print(f"{'backend':<14}{'load s':>8}{'TTFT ms':>10}{'decode tok/s':>14}{'tokens':>8}{'total ms':>10}")
    for name, r in results.items():
        print(f"{name:<14}{r['load_s']:>8.2f}{r['ttft_ms']:>10.1f}{r['decode_tok_s']:>14.1f}{r['tokens']:>8.0f}"
              f"{r['total_ms']:>10.1f}")


if __name__ == "__main__":
    main()
