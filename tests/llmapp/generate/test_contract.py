"""One contract, every backend: fake, extractive, transformers (tiny random model), openai (stub server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmapp.errors import ConfigError
from llmapp.generate import Generator, GeneratorConfig, open_generator
from tests.support.openai_stub import openai_stub

MESSAGES = [
    {"role": "system", "content": "Answer from the passages."},
    {"role": "user", "content": "Passages:\n[1] The sky is blue. Grass is green.\n\nQuestion: what colour is grass?"},
]


@pytest.fixture(params=["fake", "extractive", "transformers", "openai"])
def generator(request: pytest.FixtureRequest, tiny_chat_model: Path) -> Iterator[Generator]:
    name = request.param
    if name == "transformers":
        yield open_generator(GeneratorConfig(backend="transformers", model=str(tiny_chat_model), device="cpu"))
    elif name == "openai":
        with openai_stub() as (url, _):
            yield open_generator(GeneratorConfig(base_url=url, max_retries=0))
    else:
        yield open_generator(GeneratorConfig(backend=name))


def test_is_a_generator(generator: Generator) -> None:
    assert isinstance(generator, Generator)
    assert generator.context_window >= 64
    assert generator.count_tokens("hello world, 你好") > 0


def test_generate_is_the_joined_stream(generator: Generator) -> None:
    pieces = list(generator.stream(MESSAGES, max_tokens=12))
    assert all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == generator.generate(MESSAGES, max_tokens=12)


def test_deterministic_at_temperature_zero(generator: Generator) -> None:
    assert generator.generate(MESSAGES, max_tokens=10) == generator.generate(MESSAGES, max_tokens=10)


def test_stop_sequence_ends_the_text(generator: Generator) -> None:
    full = generator.generate(MESSAGES, max_tokens=16)
    assert len(full) >= 4
    stop = full[2:4]
    cut = generator.generate(MESSAGES, max_tokens=16, stop=[stop])
    assert cut == full[: full.index(stop)]


def test_unknown_option_is_an_error(generator: Generator) -> None:
    with pytest.raises(ConfigError, match="max_tokenz"):
        generator.generate(MESSAGES, max_tokenz=5)


def test_malformed_messages_are_an_error(generator: Generator) -> None:
    with pytest.raises(ConfigError, match="message 0"):
        generator.generate([{"role": "robot", "content": "hi"}])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="no messages"):
        generator.generate([])
