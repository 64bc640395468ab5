"""Chat generation against a real server: a bounded queue (429), a stop on disconnect, the context window (400)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmapp.generate import FakeGenerator, Message
from llmapp.server import Limits, ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import running

pytestmark = pytest.mark.e2e

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "Tell me a long story"}], "max_tokens": 900}


@dataclass
class SlowGenerator(FakeGenerator):
    """Yields 500 words, one every 10 ms, and counts how many it produced."""

    produced: int = 0

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        for i in range(500):
            time.sleep(0.01)
            self.produced += 1
            yield f"word{i} "


def _serve(tmp_path: Path, generator: FakeGenerator, **limits: Any) -> Any:
    server = ServerSettings(no_auth=True, limits=Limits(**limits))
    return running(create_app(Settings(home=tmp_path), server, generator=generator))


def _settled(generator: SlowGenerator) -> int:
    """The produced count once it stops changing (it must stop well before the 500 words)."""
    last = -1
    while generator.produced != last:
        last = generator.produced
        time.sleep(0.3)
    return last


def test_a_full_generation_queue_answers_429_and_healthz_still_answers(tmp_path: Path) -> None:
    generator = SlowGenerator()
    with _serve(tmp_path, generator, max_generations=1) as url, httpx.Client(base_url=url, timeout=30) as client, \
            client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as first:
        lines = first.iter_lines()  # kept: a dropped line iterator closes the response
        next(lines)
        busy = client.post("/v1/chat/completions", json=CHAT)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "2"
        assert "max_generations=1" in busy.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200


def test_a_stream_stops_generating_when_the_client_disconnects(tmp_path: Path) -> None:
    generator = SlowGenerator()
    with _serve(tmp_path, generator, max_generations=1) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            lines = response.iter_lines()
            for _ in range(6):
                next(lines)
        assert _settled(generator) < 250  # it ran to 500 (5 s) before
        generator.produced = 0
        again = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 5})
        assert again.status_code == 200  # the slot was given back


def test_a_non_streaming_chat_stops_when_the_client_hangs_up(tmp_path: Path) -> None:
    generator = SlowGenerator()
    with _serve(tmp_path, generator) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/chat/completions", json=CHAT, timeout=0.8)
        assert _settled(generator) < 250


def test_a_prompt_over_the_context_window_is_a_400(tmp_path: Path) -> None:
    long = " ".join(f"w{i}" for i in range(300))
    with _serve(tmp_path, FakeGenerator(context_window=256)) as url:
        body = {"model": "fake", "messages": [{"role": "user", "content": long}], "max_tokens": 16}
        response = httpx.post(url + "/v1/chat/completions", json=body, timeout=30)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "context_length_exceeded" and "context window of 256" in error["message"]
        fits = httpx.post(url + "/v1/chat/completions", timeout=30, json={
            "model": "fake", "messages": [{"role": "user", "content": "short"}], "max_tokens": 16})
        assert fits.status_code == 200


def test_many_waiting_chats_do_not_stall_the_server(tmp_path: Path) -> None:
    generator = SlowGenerator()
    codes: list[int] = []
    with _serve(tmp_path, generator, max_generations=4) as url:
        def ask() -> None:
            try:
                codes.append(httpx.post(url + "/v1/chat/completions", json={**CHAT, "max_tokens": 900},
                                        timeout=60).status_code)
            except httpx.HTTPError:
                codes.append(-1)
        threads = [threading.Thread(target=ask) for _ in range(48)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        started = time.monotonic()
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
        assert time.monotonic() - started < 2
        for thread in threads:
            thread.join()
    assert codes.count(429) >= 40 and set(codes) <= {200, 429}
