"""kill -9 in the middle of one big file: readers never see the half file, a re-run embeds only what the crash
left, and the knowledge base ends identical to a clean ingest's, down to vectors, sample order and top-5."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.embed import load_embedder
from ingest.pipeline import EMBED_GROUP, IngestOptions, ingest
from ingest.store import KnowledgeBase
from llmapp.retrieve import build_retriever
from tests.support.ingest_assertions import assert_consistent, content

WORDS = ("cell protein gene mutation tumor immune response vaccine dose trial patient risk blood brain signal "
         "receptor pathway enzyme kinase virus infection therapy cohort mortality insulin glucose obesity").split()
QUERIES = ["tumor immune response", "insulin glucose in obese patients", "kinase pathway signal", "vaccine trial dose"]


def write_rows(docs: Path, rows: int) -> Path:
    """One JSONL file of `rows` objects of varied length (so they fall in several length buckets)."""
    rng = random.Random(7)
    docs.mkdir()
    with (docs / "rows.jsonl").open("w") as out:
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 60)))
            out.write(json.dumps({"id": f"r{i}", "text": f"Row {i}: {text}."}) + "\n")
    return docs


def killed_ingest(kb: Path, docs: Path, embedder: str, at_text: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "tests.support.killed_ingest", str(kb), str(docs), embedder, str(at_text)]
    assert subprocess.run(cmd, env=env, cwd=Path(__file__).parents[2], check=False).returncode == -9


def state(kb: Path, embedder_name: str) -> tuple[object, ...]:
    """Everything a search result depends on: content, vectors by chunk, the coverage sample's order, top-5."""
    base = KnowledgeBase.open(kb)
    embedder = load_embedder(embedder_name)
    with base.snapshot() as snap:
        ids, vectors = snap.vectors()
        sample_order = [text for text, _ in snap.texts_with_vectors()]
    with build_retriever(base, embedder, "hybrid") as retriever:
        top5 = [[(hit.source, hit.text) for hit in retriever.search(q, k=5)] for q in QUERIES]
    return content(kb), ids.tolist(), vectors.tobytes(), sample_order, top5


def crash_and_resume(tmp_path: Path, embedder: str, rows: int, at_text: int) -> tuple[int, int]:
    """(texts stored before the crash, texts the re-run embedded); asserts what readers saw in between."""
    docs = write_rows(tmp_path / "docs", rows)
    kb = tmp_path / "kb"
    killed_ingest(kb, docs, embedder, at_text)
    with KnowledgeBase.open(kb).snapshot() as snap:
        assert snap.files() == [] and len(snap.chunk_ids()) == 0  # the half file is not served
        stored = snap.stats()["unique_texts"]
    assert stored > 0
    report = ingest(kb, [docs], load_embedder(embedder), IngestOptions(progress=False))
    assert report.chunks_added == rows
    assert_consistent(kb)
    clean = tmp_path / "clean"
    ingest(clean, [docs], load_embedder(embedder), IngestOptions(progress=False))
    assert state(kb, embedder) == state(clean, embedder)
    return stored, report.texts_embedded


def test_killed_big_file_resumes_where_the_last_commit_ended(tmp_path: Path) -> None:
    stored, embedded = crash_and_resume(tmp_path, "hash:32", rows=5000, at_text=1900)
    assert stored == 3 * EMBED_GROUP  # 59 batches of 32 done: three groups of 512 committed, the fourth lost
    assert embedded == 5000 - stored


@pytest.mark.slow
def test_killed_big_file_with_minilm_ends_identical_to_a_clean_ingest(tmp_path: Path) -> None:
    # in the default precision: int8 on a CPU with VNNI, whose vectors must come out as identical as float32's
    stored, embedded = crash_and_resume(tmp_path, "minilm", rows=700, at_text=550)
    assert (stored, embedded) == (EMBED_GROUP, 700 - EMBED_GROUP)
