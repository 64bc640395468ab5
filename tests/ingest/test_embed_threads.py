"""The MiniLM embedder shared by threads, as the server shares it between searches and ingest jobs: a fast
tokenizer whose truncation one call turns on and another off must not fail with "Already borrowed"."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ingest.embed import load_embedder

LONG = " ".join(f"word{i} of a long passage about otters and rivers" for i in range(120))


@pytest.mark.slow
def test_concurrent_embedding_and_token_counting_agree_with_one_thread() -> None:
    embedder = load_embedder("minilm", device="cpu", precision="float32")
    texts = [LONG[: 100 + 37 * i] for i in range(4)]
    expected_vectors = embedder.embed(texts)
    expected_offsets = embedder.token_offsets(LONG)
    failures: list[BaseException] = []

    def embed_many() -> None:
        try:
            for _ in range(4):
                assert np.allclose(embedder.embed(texts), expected_vectors, atol=1e-5)
        except BaseException as exc:  # collected: an assertion in a thread would be lost
            failures.append(exc)

    def count_many() -> None:
        try:
            for _ in range(100):
                assert embedder.token_offsets(LONG) == expected_offsets  # untruncated while others truncate
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=embed_many) for _ in range(2)] + \
        [threading.Thread(target=count_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
