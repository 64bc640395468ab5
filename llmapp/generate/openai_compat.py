"""`openai`: any server speaking the OpenAI chat-completions API (vLLM, llama.cpp server, Ollama, OpenAI).

POST {base_url}/chat/completions, streamed as server-sent events (`data: {...}` lines, then `data: [DONE]`).
Connection failures, 429 and 5xx answers are retried with exponential backoff (honouring Retry-After); a
stream is only retried before its first token arrives, so no text is ever repeated. The API key comes from the
config, else $LLMAPP_OPENAI_API_KEY, else $OPENAI_API_KEY; local servers usually need none.

Secrets stay in: the key lives in a `SecretStr` and only reaches the Authorization header; messages and logs
show the URL with any `user:password@` masked; a server's error answer goes to the log, not into the exception
(the API turns an `UpstreamError` into a 502 with a request id).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

from llmapp.errors import ConfigError, ModelError, UpstreamError
from llmapp.generate.base import (
    GenerationOptions,
    Message,
    approx_tokens,
    options_from,
    stop_at,
    validate_messages,
)
from llmapp.generate.redact import redact_url, scrub
from llmapp.generate.registry import GeneratorConfig

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 4096
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_BACKOFF_S = 0.5
_BACKOFF_MAX_S = 8.0


class OpenAIGenerator:
    name = "openai"

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = 60.0, max_retries: int = 3, context_window: int = DEFAULT_WINDOW) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = redact_url(self.base_url)  # what messages and logs show
        self.max_retries = max_retries
        self.context_window = context_window
        self._client = httpx.Client(base_url=self.base_url, headers=_headers(api_key),
                                    timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))
        self.model = model or self._first_model()

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> OpenAIGenerator:
        if not config.base_url:
            raise ConfigError("the openai backend needs a server URL: --base-url http://host:port/v1")
        key = config.api_key.get_secret_value() if config.api_key else \
            os.environ.get("LLMAPP_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
        return cls(config.base_url, config.model, key, config.timeout_s, config.max_retries,
                   config.context_window or DEFAULT_WINDOW)

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)  # the server's tokenizer is not available here

    def close(self) -> None:
        self._client.close()

    def generate(self, messages: list[Message], **opts: Any) -> str:
        validate_messages(messages)
        options = options_from(opts)
        body = self._body(messages, options)
        response = self._send(lambda: self._client.post("/chat/completions", json=body))
        try:
            text = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(f"{self.where} did not answer with a chat completion: {exc}") from exc
        return "".join(stop_at([text], options.stop))

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        validate_messages(messages)
        options = options_from(opts)
        return stop_at(self._stream(self._body(messages, options, stream=True)), options.stop)

    def _stream(self, body: dict[str, Any]) -> Iterator[str]:
        started = False
        for attempt in range(self.max_retries + 1):
            try:
                with self._client.stream("POST", "/chat/completions", json=body) as response:
                    if _retryable(response) and attempt < self.max_retries:
                        _sleep_before_retry(response, attempt)
                        continue
                    _raise_for_status(response, self.base_url)
                    for text in _sse_texts(response):
                        started = True
                        yield text
                    return
            except httpx.TransportError as exc:
                if started or attempt == self.max_retries:
                    raise UpstreamError(f"lost the connection to {self.where}: "
                                        f"{scrub(str(exc), self.base_url)}") from exc
                _sleep_before_retry(None, attempt)

    def _body(self, messages: list[Message], options: GenerationOptions, stream: bool = False
              ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": options.max_tokens,
                                "temperature": options.temperature, "top_p": options.top_p, "stream": stream}
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        if options.repetition_penalty != 1.0:  # not in OpenAI's API; vLLM and llama.cpp server accept it
            body["repetition_penalty"] = options.repetition_penalty
        return body

    def _send(self, request: Any) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            try:
                response = request()
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise UpstreamError(f"cannot reach {self.where}: {scrub(str(exc), self.base_url)}; "
                                        "is the server running?") from exc
                _sleep_before_retry(None, attempt)
                continue
            if _retryable(response) and attempt < self.max_retries:
                _sleep_before_retry(response, attempt)
                continue
            _raise_for_status(response, self.base_url)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _first_model(self) -> str:
        names = _model_names(self._send(lambda: self._client.get("/models")), self.base_url)
        if not names:
            raise ModelError(f"{self.where}/models lists no model: name one with --model")
        return names[0]


def server_models(base_url: str, api_key: str | None = None, timeout_s: float = 5.0) -> list[str]:
    """The model names an OpenAI-compatible server offers (GET /models)."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", headers=_headers(api_key), timeout=timeout_s)
    except httpx.TransportError as exc:
        raise UpstreamError(f"cannot reach {redact_url(base_url)}: {scrub(str(exc), base_url)}") from exc
    _raise_for_status(response, base_url)
    return _model_names(response, base_url)


def _model_names(response: httpx.Response, base_url: str) -> list[str]:
    try:
        return [str(item["id"]) for item in response.json()["data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(f"{redact_url(base_url)}/models is not an OpenAI model list: {exc}") from exc


def _sse_texts(response: httpx.Response) -> Iterator[str]:
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # comments (": ping"), event names and blank separators
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            return
        try:
            choice = json.loads(payload)["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            logger.warning("unexpected streamed chunk from the model server: %r", payload[:500])
            raise UpstreamError(f"the model server streamed a chunk that is not a chat completion delta: "
                                f"{type(exc).__name__}") from exc
        text = (choice.get("delta") or {}).get("content")
        if text:
            yield text


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _retryable(response: httpx.Response) -> bool:
    return response.status_code in _RETRY_STATUS


def _sleep_before_retry(response: httpx.Response | None, attempt: int) -> None:
    delay = min(_BACKOFF_S * 2**attempt, _BACKOFF_MAX_S)
    retry_after = response.headers.get("retry-after") if response is not None else None
    if retry_after and retry_after.replace(".", "", 1).isdigit():
        delay = min(float(retry_after), _BACKOFF_MAX_S)
    logger.warning("server busy or unreachable (%s); retrying in %.1f s",
                   response.status_code if response is not None else "no connection", delay)
    time.sleep(delay)


def _raise_for_status(response: httpx.Response, base_url: str) -> None:
    if response.status_code < 400:
        return
    response.read()
    where = redact_url(base_url)
    logger.warning("%s answered HTTP %s: %s", where, response.status_code, scrub(response.text[:2000], base_url))
    hint = " (check the API key)" if response.status_code in (401, 403) else ""
    raise UpstreamError(f"{where} answered HTTP {response.status_code}{hint}; its answer is in the log")
