"""The openai backend against a real HTTP server on 127.0.0.1 speaking the OpenAI wire format."""

from __future__ import annotations

import pytest

from llmapp.errors import ConfigError, ModelError
from llmapp.generate import GeneratorConfig, open_generator
from llmapp.generate.openai_compat import OpenAIGenerator, server_models
from tests.support.openai_stub import StubState, openai_stub

ASK = [{"role": "user", "content": "What is a knowledge base?"}]


def test_streams_the_server_reply_in_pieces() -> None:
    with openai_stub(StubState(reply="A folder with an index [1].")) as (url, state):
        generator = open_generator(GeneratorConfig(base_url=url, model="m1"))
        pieces = list(generator.stream(ASK, max_tokens=20, temperature=0.5, stop=["\n\n"], seed=3))
    assert len(pieces) > 1
    assert "".join(pieces) == "A folder with an index [1]."
    body = state.requests[-1]["body"]
    assert body["stream"] is True and body["model"] == "m1" and body["messages"] == ASK
    assert (body["max_tokens"], body["temperature"], body["stop"], body["seed"]) == (20, 0.5, ["\n\n"], 3)


def test_model_defaults_to_the_first_one_the_server_lists() -> None:
    with openai_stub(StubState(models=["qwen", "llama"])) as (url, state):
        assert server_models(url) == ["qwen", "llama"]
        generator = open_generator(GeneratorConfig(base_url=url))
        generator.generate(ASK)
    assert generator.model == "qwen"
    assert state.requests[-1]["body"]["model"] == "qwen"


def test_api_key_is_sent_as_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMAPP_OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    with openai_stub() as (url, state):
        open_generator(GeneratorConfig(base_url=url, model="m", api_key="sk-test")).generate(ASK)
        open_generator(GeneratorConfig(base_url=url, model="m")).generate(ASK)
    assert state.requests[0]["headers"]["authorization"] == "Bearer sk-test"
    assert state.requests[1]["headers"]["authorization"] == "Bearer from-env"


@pytest.mark.parametrize("streaming", [False, True])
def test_busy_server_is_retried(streaming: bool) -> None:
    with openai_stub(StubState(reply="ok", fail_first=2)) as (url, state):
        generator = open_generator(GeneratorConfig(base_url=url, model="m", max_retries=3))
        text = "".join(generator.stream(ASK)) if streaming else generator.generate(ASK)
    assert text == "ok"
    assert len(state.requests) == 3


def test_gives_up_after_max_retries() -> None:
    with openai_stub(StubState(fail_first=5)) as (url, state), pytest.raises(ModelError, match="HTTP 503"):
        open_generator(GeneratorConfig(base_url=url, model="m", max_retries=1)).generate(ASK)
    assert len(state.requests) == 2


def test_refused_key_says_so() -> None:
    with openai_stub(StubState(status=401)) as (url, _), pytest.raises(ModelError, match="API key"):
        "".join(open_generator(GeneratorConfig(base_url=url, model="m", max_retries=0)).stream(ASK))


def test_unreachable_server_says_so() -> None:
    generator = OpenAIGenerator("http://127.0.0.1:9/v1", model="m", max_retries=1, timeout_s=2)
    with pytest.raises(ModelError, match="cannot reach"):
        generator.generate(ASK)


def test_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="--base-url"):
        open_generator(GeneratorConfig(backend="openai"))
