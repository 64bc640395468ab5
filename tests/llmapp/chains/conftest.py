"""Fixtures for the chain tests: fixed hits and the tiny chat model, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmapp.hits import Hit
from tests.support.fixed_hits import FAQ, ZH, hit
from tests.support.tiny_causal_lm import build_tiny_chat_model


@pytest.fixture
def hits() -> list[Hit]:
    return [hit(1, FAQ, "faq.txt"), hit(2, ZH, "知识库.md"), hit(3, "Grass is green.", "grass.txt")]


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-llama"))
