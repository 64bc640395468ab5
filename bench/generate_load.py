"""llama.cpp tokens/s on a quiet machine and beside busy processes: the old thread count (`os.cpu_count()`)
next to llmapp's default (`llmapp.generate.threads.default_threads`, sampled when the model is loaded).

Busy processes are plain Python loops (`--load N` of them, default 2), started after the quiet runs. Every
configuration answers the same QA prompts as bench/generate.py (greedy, fixed max_tokens); medians reported.
Target: loaded tokens/s with the default within 2x of the quiet figure.

    .venv/bin/python bench/generate_load.py                       # --load 2 --rounds 2 --max-tokens 48
    .venv/bin/python bench/generate_load.py --load 2 --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import QUESTIONS, measure  # noqa: E402

from llmapp.generate.models import smollm2_gguf  # noqa: E402
from llmapp.generate.threads import default_threads  # noqa: E402
from llmapp.prompts import PromptLibrary  # noqa: E402


def spin() -> None:
    while True:
        pass


def cases(passage_chars: int) -> list[Any]:
    """bench/generate.py's QA prompts, each passage cut to `passage_chars` (decoding speed is what is measured)."""
    library, found = PromptLibrary(), []
    for question, path in QUESTIONS:
        passages = [{"n": 1, "text": path.read_text(encoding="utf-8")[:passage_chars], "source": path.name}]
        found.append((question, passages, library.for_text("qa", question).render(question=question,
                                                                                 passages=passages)))
    return found


def raw_llamacpp(threads: int, n_batch: int) -> tuple[Any, Any]:
    """llama-cpp-python as the llamacpp backend builds it: the same threads for decoding and prompt reading."""
    from llmapp.generate.llamacpp import load_llama

    llama = load_llama(str(smollm2_gguf()), 2048, threads)  # also what guards AMX CPUs against a crash

    def stream(case: Any, max_tokens: int) -> Any:
        for chunk in llama.create_chat_completion(messages=case[2], max_tokens=max_tokens, temperature=0.0,
                                                  stream=True, repeat_penalty=1.1):
            content = chunk["choices"][0]["delta"].get("content")
            if content:
                yield content

    return stream, lambda text: len(llama.tokenize(text.encode(), add_bos=False, special=False))


def run(threads: int, rounds: int, max_tokens: int, rendered: list[Any], n_batch: int = 512) -> dict[str, float]:
    stream, count = raw_llamacpp(threads, n_batch)
    stream(rendered[0], 4).__next__()  # warm-up
    runs = [measure(stream, case, max_tokens, count) for _ in range(rounds) for case in rendered]
    return {"threads": threads, **{key: statistics.median(r[key] for r in runs) for key in runs[0]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=int, default=2, help="Busy processes for the loaded runs.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--passage-chars", type=int, default=900)
    parser.add_argument("--n-batch", type=int, default=512,
                        help="Prompt tokens per llama.cpp batch (1 works around builds whose batched kernels crash)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rendered = cases(args.passage_chars)
    old = os.cpu_count() or 1
    results: dict[str, dict[str, float]] = {}
    results["quiet, default threads"] = run(default_threads(), args.rounds, args.max_tokens, rendered, args.n_batch)
    results["quiet, os.cpu_count()"] = run(old, args.rounds, args.max_tokens, rendered, args.n_batch)
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.load)]
    for spinner in spinners:
        spinner.start()
    try:
        time.sleep(1.0)
        results[f"{args.load} busy, default threads"] = run(default_threads(), args.rounds, args.max_tokens,
                                                             rendered, args.n_batch)
        results[f"{args.load} busy, os.cpu_count()"] = run(old, args.rounds, args.max_tokens, rendered, args.n_batch)
    finally:
        for spinner in spinners:
            spinner.terminate()
    quiet = results["quiet, default threads"]["decode_tok_s"]
    for row in results.values():
        row["quiet_over_this"] = quiet / row["decode_tok_s"] if row["decode_tok_s"] else float("inf")
    report(results, args)


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({"settings": vars(args), "cpus": os.cpu_count(), "results": results}, indent=2))
        return
    print(f"SmolLM2-135M, raw llama-cpp-python, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, max_tokens {args.max_tokens}, medians of {args.rounds} x 3 prompts")
    print(f"{'configuration':<28}{'threads':>8}{'TTFT ms':>10}{'decode tok/s':>14}{'quiet / this':>14}")
    for name, r in results.items():
        print(f"{name:<28}{r['threads']:>8.0f}{r['ttft_ms']:>10.1f}{r['decode_tok_s']:>14.1f}"
              f"{r['quiet_over_this']:>14.2f}")


if __name__ == "__main__":
    main()
