"""Settings precedence (flags > LLMAPP_* > llmapp.yaml > defaults) and knowledge-base names."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmapp.errors import ConfigError, NotFoundError
from llmapp.settings import Settings


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llmapp.yaml").write_text("chunk_overlap: 10\nembed_batch_size: 8\n")
    monkeypatch.setenv("LLMAPP_EMBED_BATCH_SIZE", "16")
    settings = Settings.load(chunk_tokens=100, chunk_overlap=None)
    assert (settings.chunk_tokens, settings.chunk_overlap, settings.embed_batch_size) == (100, 10, 16)


def test_unknown_yaml_key_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llmapp.yaml").write_text("chunk_tokns: 10\n")
    with pytest.raises(ConfigError, match="chunk_tokns"):
        Settings.load()


def test_kb_names_and_paths(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.kb_path("handbook") == tmp_path / "handbook"
    assert settings.kb_path("员工手册") == tmp_path / "员工手册"
    assert settings.kb_path("./kb") == Path("kb")
    with pytest.raises(ConfigError, match="not a valid knowledge base name"):
        settings.kb_path("bad name")
    with pytest.raises(NotFoundError, match="llmapp ingest"):
        settings.kb_path("missing", must_exist=True)
