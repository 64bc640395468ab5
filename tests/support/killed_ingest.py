"""`python -m tests.support.killed_ingest KB DOCS EMBEDDER N`: ingest DOCS into KB and SIGKILL the process as the
embedder starts the batch that would take it past N texts (a crash in the middle of one big file), for the
resume tests. Counted in texts, not batches: batch sizes differ by precision (int8 batches hold <= 512 tokens)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from ingest.embed import load_embedder
from ingest.pipeline import IngestOptions, ingest


def dying(embedder: Any, at_text: int) -> Any:
    """`embedder`, loaded (int8 measures its ranges by embedding fixed texts: not counted), with its batch methods
    wrapped to kill the process at the batch that would embed more than `at_text` texts in all."""
    load = getattr(embedder, "_load", None)
    if load is not None:
        load()
    seen, depth = [0], [0]
    for name in ("_embed_batch", "_embed_shaped"):  # one calls the other: count the outer call only
        original = getattr(embedder, name, None)
        if original is None:
            continue

        def wrapped(texts: list[str], *args: Any, _original: Any = original) -> Any:
            if depth[0] == 0:
                if seen[0] + len(texts) > at_text:
                    os.kill(os.getpid(), signal.SIGKILL)
                seen[0] += len(texts)
            depth[0] += 1
            try:
                return _original(texts, *args)
            finally:
                depth[0] -= 1

        setattr(embedder, name, wrapped)
    return embedder


def main(kb: str, docs: str, embedder: str, at_text: str) -> None:
    ingest(Path(kb), [Path(docs)], dying(load_embedder(embedder), int(at_text)), IngestOptions(progress=False))


if __name__ == "__main__":
    main(*sys.argv[1:5])
