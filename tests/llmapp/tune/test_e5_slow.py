"""The whole loop once on the shipped encoder (multilingual-e5-small): the tuned model keeps e5's query/passage
prompts, the gate measures it over the staged vectors, and a dry run leaves the knowledge base as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.embed import load_embedder
from ingest.store import KnowledgeBase
from llmapp.settings import Settings
from llmapp.tune.loop import TuneOptions, tune
from llmapp.tune.training import TrainOptions
from tests.support.retrieval_fixtures import EN, ZH, build_kb

pytestmark = pytest.mark.slow


def test_kb_tune_dry_run_on_e5_small(tmp_path: Path) -> None:
    kb = build_kb(tmp_path, {**ZH, **EN}, embedder=load_embedder("e5-small"))
    before = KnowledgeBase.open(kb)
    options = TuneOptions(held_out=0.3, dry_run=True, train=TrainOptions(batch_size=4, max_length=96))
    report = tune(Settings(home=tmp_path / "home"), str(kb), options)
    assert set(report.seconds) == {"queries", "negatives", "training", "re-embed", "gate"}
    assert report.reason and report.gate["sets"]["held-out pseudo-queries"]["queries"] >= 1
    model = Path(report.run_dir or "") / "model"
    prompts = json.loads((model / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"].startswith("query") and prompts["passage"].startswith("passage")
    after = KnowledgeBase.open(kb)
    assert after.version() == before.version() and after.manifest.embedder.name == "e5-small"
