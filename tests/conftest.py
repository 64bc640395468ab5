"""Session-wide test setup: offline, deterministic, nothing written outside tmp folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# the session's milvus-lite server (`milvus_endpoint`), started only by the tests that ask for it
pytest_plugins = ["tests.support.milvus_server"]


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder as a knowledge-base embedder (built once per session, nothing downloaded)."""
    from transformers import BertConfig, BertModel

    from tests.support.finetune_data import wordpiece_tokenizer

    folder = tmp_path_factory.mktemp("tiny-encoder")
    wordpiece_tokenizer(folder)
    config = BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder
