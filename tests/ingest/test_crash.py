"""kill -9 an ingest at several points: the knowledge base always opens consistent, and finishing the work
ends identical to a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ingest.store import DOCSTORE, is_knowledge_base
from tests.support.ingest_assertions import assert_consistent, content

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def make_corpus(root: Path, files: int) -> Path:
    root.mkdir()
    for i in range(files):
        paragraphs = [
            " ".join(WORDS[(i * 7 + j * 3 + w) % len(WORDS)] for w in range(40)) + f" doc {i} part {j}."
            for j in range(6)
        ]
        (root / f"doc{i:04d}.txt").write_text("\n\n".join(paragraphs))
    return root


def ingest_process(docs: Path, kb: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "llmapp", "ingest", str(docs), "--kb", str(kb), "--embedder", "hash:32",
           "--chunk-tokens", "48", "--json", "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_sigkill_at_any_point_leaves_a_consistent_kb(tmp_path: Path) -> None:
    docs = make_corpus(tmp_path / "docs", files=3000)
    kb = tmp_path / "kb"
    kills = 0
    for delay in (0.05, 0.3, 0.8, 1.5, 2.5, 4.0):
        proc = ingest_process(docs, kb)
        deadline = time.time() + 60
        while not (kb / DOCSTORE).exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if is_knowledge_base(kb):
            assert_consistent(kb)
    assert kills >= 2, "the ingest finished too fast to be interrupted; make the corpus larger"
    finish = ingest_process(docs, kb)
    assert finish.wait(timeout=300) == 0
    clean = tmp_path / "clean"
    assert ingest_process(docs, clean).wait(timeout=300) == 0
    assert content(kb) == content(clean)
    assert assert_consistent(kb) == assert_consistent(clean)
