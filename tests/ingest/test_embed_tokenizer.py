"""One tokenizer per embedder: the chunker's and the model's are the same object, whichever loads first.

XLM-R's 250k-piece tokenizer (the shipped e5-small) holds ~300 MB; SentenceTransformer loads a copy of its own,
which the embedder drops. Vectors are the same either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.embed import SentenceTransformerEmbedder

TEXTS = ["a knowledge base is a folder with a manifest", "short", "run ingest again whenever documents change"]


def model_tokenizers(embedder: SentenceTransformerEmbedder) -> list[object]:
    """Every tokenizer object the loaded model's first module and its input formatter hold."""
    module = embedder._model[0]
    holders = [module, getattr(module, "input_formatter", None)]
    return [value for holder in holders if holder is not None for value in vars(holder).values()
            if hasattr(value, "backend_tokenizer")]


def test_the_chunkers_tokenizer_loaded_first_is_the_one_the_model_uses(tiny_encoder: Path) -> None:
    embedder = SentenceTransformerEmbedder(tiny_encoder)
    chunker_tokenizer = embedder.tokenizer  # an ingest chunks before it embeds
    vectors = embedder.embed(TEXTS)
    held = model_tokenizers(embedder)
    assert held and all(tokenizer is chunker_tokenizer for tokenizer in held)
    assert embedder.tokenizer is chunker_tokenizer
    assert chunker_tokenizer.model_max_length == embedder._model.max_seq_length == 128

    model_first = SentenceTransformerEmbedder(tiny_encoder)
    model_first._load()  # the model before anything asked for the tokenizer: the embedder adopts the model's
    assert model_first._tokenizer is not None
    assert all(tokenizer is model_first.tokenizer for tokenizer in model_tokenizers(model_first))
    first_vectors = model_first.embed(TEXTS)
    np.testing.assert_allclose(vectors, first_vectors, atol=1e-6)
