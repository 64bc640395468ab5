"""`llmapp models list` shows the shipped multilingual encoder, converted or not."""

from __future__ import annotations

from pathlib import Path

from llmapp.generate.models import list_models
from llmcommon.e5_small import e5_small_folder
from tests.support.e5_fixtures import write_tiny_e5


def test_e5_small_is_listed_as_an_encoder_ready_once_converted(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = {m.name: m for m in list_models(cache=cache)}["multilingual-e5-small"]
    assert before.kind == "encoder" and not before.ready and "first use" in before.note
    write_tiny_e5(tmp_path / "tiny.bin")
    e5_small_folder(cache, source=tmp_path / "tiny.bin")
    after = [m for m in list_models(cache=cache) if m.name == "multilingual-e5-small"]
    assert len(after) == 1 and after[0].ready and after[0].location == str(cache / "multilingual-e5-small")
