"""Token budgets vs character budgets on /work/shared/corpus, MiniLM tokenizer (a manual check, not a test).

Run: HF_HUB_OFFLINE=1 .venv/bin/python -P bench/chunking.py  (-P: bench/ingest.py would shadow the package)
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Sequence
from pathlib import Path

from ingest.chunk import ChunkOptions, chunk_document
from ingest.documents import Document

CORPUS = "/work/shared/corpus/*.txt"


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    from llmcommon.models import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))

    def offsets(text: str) -> Sequence[tuple[int, int]]:
        return tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]  # type: ignore[no-any-return]

    docs = [Document(f, f, Path(f).read_text(encoding="utf-8")) for f in sorted(glob.glob(CORPUS))]
    windows = [d.text[i : i + 500] for d in docs for i in range(0, len(d.text), 500)]
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    recursive = [c for d in docs for c in splitter.split_text(d.text)]
    for name, pieces in [("500-char windows", windows), ("RecursiveCharacterTextSplitter(500, 50)", recursive)]:
        over = sum(len(offsets(p)) > 256 for p in pieces)
        print(f"{name}: {len(pieces)} chunks, {over / len(pieces):.1%} over 256 tokens")

    began = time.perf_counter()
    whole = {d.text: offsets(d.text) for d in docs}
    tokenise_s = time.perf_counter() - began
    for overlap in (32, 0):
        began = time.perf_counter()
        ours = [
            c for d in docs
            for c in chunk_document(d, lambda s: whole.get(s) or offsets(s), ChunkOptions(254, overlap))
        ]
        chunk_s = time.perf_counter() - began
        over = sum(len(offsets(c.text)) > 254 for c in ours)
        mean = sum(c.n_tokens for c in ours) / len(ours)
        print(f"ours max_tokens=254 overlap={overlap}: {len(ours)} chunks, {over} over 254, mean {mean:.1f} tokens;"
              f" chunking {chunk_s * 1000:.0f} ms after tokenising {sum(len(d.text) for d in docs)} chars"
              f" in {tokenise_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
