"""A tiny random BERT folder as a knowledge-base embedder (built once per session, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.finetune_data import wordpiece_tokenizer


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    wordpiece_tokenizer(folder)
    config = BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder
