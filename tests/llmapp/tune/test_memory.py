"""The loop holds one encoder at a time: the knowledge base's own one mines the negatives and scores the gate's
"before" side, and is gone (with training's copy after it) before the next phase needs the memory."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from ingest.embed import SentenceTransformerEmbedder
from llmapp.settings import Settings
from llmapp.tune.loop import TuneOptions, tune
from llmapp.tune.training import TrainOptions
from tests.support.retrieval_fixtures import EN, ZH, build_kb


def live_models() -> int:
    from sentence_transformers import SentenceTransformer

    gc.collect()
    return sum(isinstance(obj, SentenceTransformer) for obj in gc.get_objects())


def test_the_loop_releases_each_encoder_before_the_next_phase_and_loads_the_kbs_once(
        tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = build_kb(tmp_path, {**ZH, **EN}, embedder=SentenceTransformerEmbedder(tiny_encoder))
    loads: list[Path] = []
    load = SentenceTransformerEmbedder._load

    def counted_load(self: SentenceTransformerEmbedder) -> Any:
        if self._model is None:
            loads.append(self.path)
        return load(self)

    monkeypatch.setattr(SentenceTransformerEmbedder, "_load", counted_load)
    live: dict[str, int] = {}
    options = TuneOptions(held_out=0.3, dry_run=True, train=TrainOptions(batch_size=4))
    report = tune(Settings(home=tmp_path / "home"), str(kb), options,
                  on_phase=lambda name: live.setdefault(name, live_models()))
    # counted against the models alive as the loop starts (other tests' may still be in memory)
    assert live["training"] <= live["queries"], "the knowledge base's encoder is still in memory while training"
    assert live["re-embed"] <= live["queries"], "training's model is still in memory while the tuned one re-embeds"
    assert loads.count(tiny_encoder.resolve()) == 1, loads  # mining and the gate's before side share it
    assert report.reason.startswith("kept the embedder") or report.reason.startswith("--dry-run")
