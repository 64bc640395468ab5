"""The upstream key and a base URL's credentials never appear in reprs, errors or logs, and the model server's
error answers go to the log, not to our clients (a 502 with a request id), against real servers on 127.0.0.1."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from llmapp.errors import UpstreamError
from llmapp.generate import GeneratorConfig, open_generator
from llmapp.generate.openai_compat import OpenAIGenerator, server_models
from llmapp.generate.redact import redact_url
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.openai_stub import StubState, openai_stub
from tests.support.server_fixtures import running

ASK = [{"role": "user", "content": "What is a knowledge base?"}]
PASSWORD = "hunter2-pw"
LEAK = "internal trace: db=prod-7 token=abc123"


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@")


def test_redact_url_masks_user_and_password_only() -> None:
    assert redact_url(f"https://alice:{PASSWORD}@llm.example.com:8443/v1") == "https://***@llm.example.com:8443/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_config_repr_masks_the_key_and_the_url_credentials() -> None:
    config = GeneratorConfig(base_url=f"http://alice:{PASSWORD}@host/v1", api_key="sk-live-secret")
    for text in (repr(config), str(config)):
        assert "sk-live-secret" not in text and PASSWORD not in text
    assert config.api_key is not None and config.api_key.get_secret_value() == "sk-live-secret"


def test_key_still_reaches_the_server_as_a_bearer_token() -> None:
    with openai_stub() as (url, state):
        open_generator(GeneratorConfig(base_url=url, model="m", api_key="sk-live-secret")).generate(ASK)
    assert state.requests[0]["headers"]["authorization"] == "Bearer sk-live-secret"


@pytest.mark.parametrize("streaming", [False, True])
def test_error_answer_is_logged_not_raised_and_credentials_are_masked(
        streaming: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="llmapp.generate.openai_compat")
    with openai_stub(StubState(status=500, error_message=LEAK)) as (url, _), \
            pytest.raises(UpstreamError) as raised:
        generator = OpenAIGenerator(with_credentials(url), model="m", max_retries=0)
        "".join(generator.stream(ASK)) if streaming else generator.generate(ASK)
    message = str(raised.value)
    assert "HTTP 500" in message and "***@127.0.0.1" in message
    assert LEAK not in message and PASSWORD not in message
    assert LEAK in caplog.text and PASSWORD not in caplog.text


def test_unreachable_server_with_credentials_is_masked() -> None:
    url = with_credentials("http://127.0.0.1:9/v1")
    with pytest.raises(UpstreamError) as raised:
        server_models(url, timeout_s=2)
    assert "cannot reach http://***@127.0.0.1:9/v1" in str(raised.value) and PASSWORD not in str(raised.value)


def test_api_answers_a_failing_model_server_with_a_502_and_a_request_id(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with openai_stub(StubState(status=500, error_message=LEAK)) as (upstream, _):
        generator = OpenAIGenerator(with_credentials(upstream), model="m", max_retries=0)
        app = create_app(Settings(home=tmp_path), ServerSettings(no_auth=True), generator=generator)
        with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            answer = client.post("/v1/chat/completions", json={"model": "m", "messages": ASK})
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["type"] == "upstream_error" and "request id" in error["message"]
    assert LEAK not in answer.text and PASSWORD not in answer.text and "127.0.0.1" not in answer.text
    request_id = error["message"].rsplit(" ", 1)[1].rstrip(")")
    assert request_id in caplog.text and LEAK in caplog.text and PASSWORD not in caplog.text
