"""Options, stop sequences, the registry's choice of backend, and the fake generator."""

from __future__ import annotations

import pytest

from llmapp.errors import ConfigError
from llmapp.generate import FakeGenerator, GenerationOptions, GeneratorConfig, open_generator, options_from
from llmapp.generate import registry as registry_module
from llmapp.generate.base import stop_at
from llmapp.generate.registry import register_backend, resolve_backend


@pytest.mark.parametrize(
    ("pieces", "stop", "expected"),
    [
        (["Hello ", "wor", "ld"], (), ["Hello ", "wor", "ld"]),
        (["Hello ", "wor", "ld. Bye"], ("world",), ["Hello "]),
        (["ab", "c<|e", "nd|> more"], ("<|end|>",), ["ab", "c"]),
        (["a<", "b"], ("<|end|>",), ["a", "<b"]),  # held back only while it could still be a stop
        (["答案是", "蓝色。\n\n问题"], ("\n\n",), ["答案是", "蓝色。"]),
    ],
)
def test_stop_at_pieces(pieces: list[str], stop: tuple[str, ...], expected: list[str]) -> None:
    assert list(stop_at(iter(pieces), stop)) == expected


def test_options_are_validated() -> None:
    assert options_from({"stop": "###", "max_tokens": None}) == GenerationOptions(stop=("###",))
    with pytest.raises(ConfigError, match="temperature"):
        options_from({"temperature": 3})
    with pytest.raises(ConfigError, match="max_tokens"):
        options_from({"max_tokens": 0})


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "llamacpp_installed", lambda: True)
    assert resolve_backend(GeneratorConfig()) == "llamacpp"
    assert resolve_backend(GeneratorConfig(model="/m/model.Q4.gguf")) == "llamacpp"
    assert resolve_backend(GeneratorConfig(model="/m/folder")) == "transformers"
    assert resolve_backend(GeneratorConfig(adapter="/runs/a/adapter")) == "transformers"
    assert resolve_backend(GeneratorConfig(base_url="http://h/v1")) == "openai"
    monkeypatch.setattr(registry_module, "llamacpp_installed", lambda: False)
    assert resolve_backend(GeneratorConfig()) == "transformers"


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="extractive"):
        open_generator(GeneratorConfig(backend="nope"))


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="temprature"):
        GeneratorConfig(temprature=1)  # type: ignore[call-arg]


def test_third_party_backend_registers_like_builtins() -> None:
    register_backend("echo-test", lambda config: FakeGenerator(replies=["registered"]))
    assert open_generator(GeneratorConfig(backend="echo-test")).generate([{"role": "user", "content": "x"}]) \
        == "registered"


def test_fake_generator_counts_and_records() -> None:
    fake = FakeGenerator()
    text = fake.generate([{"role": "user", "content": "one two three four 五六"}], max_tokens=5)
    assert text == "one two three four 五"
    assert fake.calls[0].options.max_tokens == 5
    assert fake.count_tokens(text) == 5
    replies = FakeGenerator(replies=["a", "b"])
    assert [replies.generate([{"role": "user", "content": "q"}]) for _ in range(3)] == ["a", "b", "a"]
