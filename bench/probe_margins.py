"""Coverage probe margins of embedders on the chunks of knowledge bases (llmapp/retrieve/coverage.py).

For each knowledge base and language, the 64 chunks coverage samples are re-embedded by each embedder named,
their middle passages embedded as queries, and the probe margin computed as coverage computes it: the
embedder's, the bag of words' on the same probes, their ratio (what FLOOR and CEILING apply to) and the
coverage it gives. Knowledge bases are names under LLMAPP_HOME or folders.

    LLMAPP_HOME=H python -P bench/probe_margins.py seed /tmp/cmrc-kb /tmp/scifact-kb --embedders minilm e5-small
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def report(kb: str, embedders: dict[str, object]) -> None:
    from llmapp.language import detect_language
    from llmapp.retrieve import open_retriever
    from llmapp.retrieve.coverage import (
        SAMPLE,
        coverage_from_margin,
        lexical_margin,
        probe,
        relative_margin,
        standardized_margin,
    )
    from llmapp.settings import Settings

    with open_retriever(Settings(), kb, mode="lexical") as retriever:
        texts = [text for text, _ in retriever.snapshot.texts_with_vectors() if len(text) > 40]
    for language in ("zh", "en"):
        pool = [text for text in texts if detect_language(text) == language]
        if len(pool) < 8:
            print(f"{kb}  {language}  {len(pool)} chunks: not measured (coverage 1)")
            continue
        chosen = random.Random(0).sample(pool, min(SAMPLE, len(pool)))
        probes = [probe(text, language) for text in chosen]
        lexical = lexical_margin(probes, chosen)
        for name, embedder in embedders.items():
            similarity = embedder.embed(probes, role="query") @ embedder.embed(chosen).T  # type: ignore[attr-defined]
            margin = standardized_margin(similarity)
            relative = relative_margin(margin, lexical)
            print(f"{kb}  {language}  n={len(chosen):<3} {name:<10} margin {margin:5.2f}  bag of words {lexical:6.2f}"
                  f"  relative {relative:.3f}  coverage {coverage_from_margin(relative):.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kbs", nargs="+", help="knowledge base names (under LLMAPP_HOME) or folders")
    parser.add_argument("--embedders", nargs="+", default=["minilm", "e5-small"])
    args = parser.parse_args()
    from ingest.embed import load_embedder

    embedders = {name: load_embedder(name, precision="float32") for name in args.embedders}
    for kb in args.kbs:
        report(kb, embedders)


if __name__ == "__main__":
    main()
