"""Tiny random models (BERT, T5, Llama) with tokenizers trained here, built once per session, and small data.

Nothing is downloaded: configs are written by hand and tokenizers are trained with the `tokenizers` library.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.finetune_data import bpe_tokenizer, sentiment_rows, wordpiece_tokenizer, write_jsonl


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    wordpiece_tokenizer(folder)
    config = BertConfig(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def steady_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT without dropout: runs that see the same batches compute the same gradients (the
    multi-process tests compare a DDP / FSDP run with a 1-process one)."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("steady-bert")
    wordpiece_tokenizer(folder)
    config = BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = bpe_tokenizer(folder, "<|im_end|>", "<pad>", ["<|im_start|>"])
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-t5")
    tok = bpe_tokenizer(folder, "</s>", "<pad>", [])
    config = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sentiment")
    return (
        write_jsonl(folder / "train.jsonl", sentiment_rows(64, 1)),
        write_jsonl(folder / "dev.jsonl", sentiment_rows(24, 2)),
    )
