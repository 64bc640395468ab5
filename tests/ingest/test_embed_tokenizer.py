"""One tokenizer per embedder: the chunker's and the model's are the same object, whichever loads first.

XLM-R's 250k-piece tokenizer (the shipped e5-small) holds ~300 MB. A common folder runs with the chunker's
tokenizer (`ingest.st_folder`); SentenceTransformer, for any other, loads a copy of its own, which the embedder
drops. Vectors are the same either way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ingest.embed import SentenceTransformerEmbedder
from ingest.st_folder import PlainSentenceModel

TEXTS = ["a knowledge base is a folder with a manifest", "short", "run ingest again whenever documents change"]


def model_tokenizers(embedder: SentenceTransformerEmbedder) -> list[object]:
    """Every tokenizer object the loaded model holds (a SentenceTransformer: its first module and that module's
    input formatter)."""
    model = embedder._model
    module = model if isinstance(model, PlainSentenceModel) else model[0]
    holders = [module, getattr(module, "input_formatter", None)]
    return [value for holder in holders if holder is not None for value in vars(holder).values()
            if hasattr(value, "backend_tokenizer")]


@pytest.fixture(params=["plain", "sentence-transformers"])
def encoder(request: pytest.FixtureRequest, tiny_encoder: Path, tmp_path: Path) -> Path:
    """The tiny encoder as a folder `ingest.st_folder` runs, and as one only SentenceTransformer loads."""
    if request.param == "plain":
        return tiny_encoder
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, folder)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"config_args": {}}))
    return folder


def test_the_chunkers_tokenizer_loaded_first_is_the_one_the_model_uses(encoder: Path) -> None:
    embedder = SentenceTransformerEmbedder(encoder)
    chunker_tokenizer = embedder.tokenizer  # an ingest chunks before it embeds
    vectors = embedder.embed(TEXTS)
    held = model_tokenizers(embedder)
    assert held and all(tokenizer is chunker_tokenizer for tokenizer in held)
    assert embedder.tokenizer is chunker_tokenizer
    assert chunker_tokenizer.model_max_length == embedder._model.max_seq_length == 128

    model_first = SentenceTransformerEmbedder(encoder)
    model_first._load()  # the model before anything asked for the tokenizer: the embedder adopts the model's
    assert model_first._tokenizer is not None
    assert all(tokenizer is model_first.tokenizer for tokenizer in model_tokenizers(model_first))
    first_vectors = model_first.embed(TEXTS)
    np.testing.assert_allclose(vectors, first_vectors, atol=1e-6)
    # the session's tiny encoder has no sentence_bert_config.json; the copy's makes it SentenceTransformer's
    assert isinstance(embedder._model, PlainSentenceModel) != (encoder / "sentence_bert_config.json").exists()
