"""The official `openai` Python client against a real server: its defaults must simply work."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.server_fixtures import API_KEY, extractive_server

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with extractive_server(tmp_path_factory.mktemp("openai") / "home") as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key=API_KEY, max_retries=0)


def test_embeddings_with_the_sdks_default_base64_encoding(client: object) -> None:
    # the SDK asks for encoding_format="base64" unless told otherwise; the server answered 422
    response = client.embeddings.create(model="kb:handbook", input=["cats purr", "熊猫吃竹子"])  # type: ignore[attr-defined]
    vectors = np.array([item.embedding for item in response.data])
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    floats = client.embeddings.create(model="kb:handbook", input=["cats purr"],  # type: ignore[attr-defined]
                                      encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-6)


def test_dimensions_and_n_are_honoured_or_refused_with_a_400(client: object) -> None:
    with pytest.raises(openai.BadRequestError, match="dimensions=32"):
        client.embeddings.create(model="kb:handbook", input="x", dimensions=32)  # type: ignore[attr-defined]
    same = client.embeddings.create(model="kb:handbook", input="x", dimensions=64)  # type: ignore[attr-defined]
    assert len(same.data[0].embedding) == 64
    with pytest.raises((openai.BadRequestError, openai.UnprocessableEntityError)):
        client.chat.completions.create(model="kb:handbook", n=2,  # type: ignore[attr-defined]
                                       messages=[{"role": "user", "content": "Do cats purr?"}])


def test_a_stream_ends_with_usage_when_asked(client: object) -> None:
    stream = client.chat.completions.create(  # type: ignore[attr-defined]
        model="kb:handbook", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Do cats purr?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "cat" in text.lower()
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
