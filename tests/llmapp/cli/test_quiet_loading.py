"""`llmapp search` loads the knowledge base's embedder without transformers' "Loading weights" bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmapp.cli import app
from tests.llmapp.cli.test_default_embedder import docs, tiny_e5  # noqa: F401  (fixture)


def test_search_prints_no_loading_weights_bar(tiny_e5: Path, tmp_path: Path,  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    kb = str(tmp_path / "kb")
    corpus = docs(tmp_path / "d", "Cats sleep most of the day. Dogs like long walks.")
    ingested = CliRunner().invoke(app, ["ingest", str(corpus), "--kb", kb, "-q"])
    assert ingested.exit_code == 0, ingested.output
    result = CliRunner().invoke(app, ["search", "cats", "--kb", kb])
    assert result.exit_code == 0, result.output
    assert "Cats sleep" in result.stdout
    assert "Loading weights" not in result.stderr
