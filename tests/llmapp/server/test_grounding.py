"""The API streams the generator's draft, then a final chunk whose `llmapp.text` is the verified answer (with
grounding and per-sentence support) and whose citations carry support scores; the non-streamed answer is the
verified text itself."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from llmapp.generate import FakeGenerator
from llmapp.server import ServerSettings, create_app
from llmapp.settings import Settings
from tests.support.server_fixtures import API_KEY, build_hash_kb, running, sse_events

INVENTED = "Pandas were first seen on the Moon in 1969 [1]."


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("grounding") / "home"
    home.mkdir()
    build_hash_kb(home)
    fake = FakeGenerator(replies=[INVENTED])
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY)), generator=fake)
    with running(app) as url, httpx.Client(base_url=url, timeout=60,
                                           headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        yield http


def _request(question: str, stream: bool) -> dict[str, object]:
    return {"model": "kb:handbook", "stream": stream, "messages": [{"role": "user", "content": question}]}


def test_stream_final_chunk_carries_the_verified_answer(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/chat/completions", json=_request("熊猫吃什么？", True)) as response:
        events = sse_events(response)
    chunks = events[:-1]
    draft = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert draft == INVENTED  # the draft streams as it is generated
    last = chunks[-1]
    verified = last["llmapp"]
    assert verified["replaces_draft"] is True and verified["grounding"] == "extractive"
    assert "竹子" in verified["text"] and "Moon" not in verified["text"]
    assert verified["sentences"][0]["status"] == "dropped" and "1969" in verified["sentences"][0]["missing"]
    assert last["citations"][0]["source"].endswith("熊猫.txt") and last["citations"][0]["support"] > 0.5


def test_plain_response_is_the_verified_text(client: httpx.Client) -> None:
    body = client.post("/v1/chat/completions", json=_request("What do pandas eat?", False)).json()
    text = body["choices"][0]["message"]["content"]
    assert "Moon" not in text and text == body["llmapp"]["text"]
    assert body["llmapp"]["grounding"] in ("extractive", "none")

