"""`python -m tests.support.killed_ingest KB DOCS EMBEDDER N`: ingest DOCS into KB and SIGKILL the process as
the embedder starts its N-th batch (a crash in the middle of one big file), for the resume tests."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from ingest.embed import load_embedder
from ingest.pipeline import IngestOptions, ingest


def dying(embedder: Any, at_batch: int) -> Any:
    """`embedder`, with its batch methods wrapped to kill the process at the `at_batch`-th batch."""
    calls, depth = [0], [0]
    for name in ("_embed_batch", "_embed_shaped"):  # one calls the other: count the outer call only
        original = getattr(embedder, name, None)
        if original is None:
            continue

        def wrapped(*args: Any, _original: Any = original) -> Any:
            if depth[0] == 0:
                calls[0] += 1
                if calls[0] == at_batch:
                    os.kill(os.getpid(), signal.SIGKILL)
            depth[0] += 1
            try:
                return _original(*args)
            finally:
                depth[0] -= 1

        setattr(embedder, name, wrapped)
    return embedder


def main(kb: str, docs: str, embedder: str, at_batch: str) -> None:
    ingest(Path(kb), [Path(docs)], dying(load_embedder(embedder), int(at_batch)), IngestOptions(progress=False))


if __name__ == "__main__":
    main(*sys.argv[1:5])
