"""`langchain-openai` (ChatOpenAI, OpenAIEmbeddings) against a real server: a LangChain user points base_url at us
and changes nothing else. OpenAIEmbeddings runs with `check_embedding_ctx_length=False`: its default counts
tokens with tiktoken files fetched from the network, which a machine without internet cannot do."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.server_fixtures import API_KEY, extractive_server

langchain_openai = pytest.importorskip("langchain_openai")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with extractive_server(tmp_path_factory.mktemp("langchain") / "home") as url:
        yield url + "/v1"


def _chat(base_url: str, **kwargs: object) -> object:
    return langchain_openai.ChatOpenAI(model="kb:handbook", base_url=base_url, api_key=API_KEY, max_retries=0,
                                       **kwargs)


def test_chat_invoke_answers_from_the_knowledge_base(base_url: str) -> None:
    message = _chat(base_url).invoke("Do cats purr?")  # type: ignore[attr-defined]
    assert "cat" in message.content.lower() and "[1]" in message.content
    assert message.usage_metadata["total_tokens"] > 0


def test_chat_stream_with_usage(base_url: str) -> None:
    chunks = list(_chat(base_url, stream_usage=True).stream("Do cats purr?"))  # type: ignore[attr-defined]
    text = "".join(chunk.content for chunk in chunks)
    assert "cat" in text.lower()
    assert any(chunk.usage_metadata and chunk.usage_metadata["total_tokens"] > 0 for chunk in chunks)


def test_embeddings(base_url: str) -> None:
    embeddings = langchain_openai.OpenAIEmbeddings(model="kb:handbook", base_url=base_url, api_key=API_KEY,
                                                   check_embedding_ctx_length=False, max_retries=0)
    vectors = np.array(embeddings.embed_documents(["cats purr", "熊猫吃竹子"]))
    query = np.array(embeddings.embed_query("cats purr"))
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert query.shape == (64,)


def test_a_wrong_key_is_a_clear_authentication_error(base_url: str) -> None:
    import openai

    chat = langchain_openai.ChatOpenAI(model="kb:handbook", base_url=base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        chat.invoke("Do cats purr?")
