"""Cross-encoder reranking with a tiny random BERT, the LangChain adapter and `llmapp search` output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.embed import HashEmbedder
from ingest.store import KnowledgeBase
from llmapp.cli import app
from llmapp.retrieve import HybridRetriever
from llmapp.retrieve.rerank import CrossEncoderReranker
from tests.support.retrieval_fixtures import DOCS, build_kb


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_kb(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BertForSequenceClassification with a WordPiece tokenizer trained here."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("cross-encoder")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tok.train_from_iterator(list(DOCS.values()) * 3, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]").save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_reranker_reorders_by_its_own_scores(kb: Path, cross_encoder: Path) -> None:
    reranker = CrossEncoderReranker(cross_encoder)
    query = "how do I install llmapp"
    with HybridRetriever(KnowledgeBase.open(kb).snapshot(), HashEmbedder(64), reranker=reranker,
                         rerank_top=5) as retriever:
        hits = retriever.search(query, k=3)
    expected = reranker.score(query, [h.text for h in hits])
    assert [h.score for h in hits] == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_reranker_folder_must_be_a_model(tmp_path: Path) -> None:
    from llmapp.errors import ModelError

    with pytest.raises(ModelError, match="config.json"):
        CrossEncoderReranker(tmp_path)


def test_langchain_adapter(kb: Path) -> None:
    from llmapp.retrieve.langchain import LangChainRetriever

    retriever = HybridRetriever(KnowledgeBase.open(kb).snapshot(), HashEmbedder(64))
    documents = LangChainRetriever(retriever=retriever, k=2).invoke("hybrid search BM25")
    assert documents[0].page_content.startswith("# Search")
    assert documents[0].metadata["source"].endswith("search.md") and "chunk_id" in documents[0].metadata
    retriever.close()


def test_batch_search_writes_one_json_line_per_query(kb: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "text": "install pip"}\n{"_id": "b", "text": "熊猫 竹子"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["search", "--kb", str(kb), "--queries", str(queries), "-k", "2", "--json"],
                                env={"LLMAPP_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert lines[1]["hits"][0]["text"].startswith("熊猫")
    assert set(lines[0]["hits"][0]) >= {"rank", "score", "text", "source", "doc_id", "chunk_id", "span", "metadata"}


def test_single_search_json_and_nothing_relevant(kb: Path, tmp_path: Path) -> None:
    env = {"LLMAPP_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["search", "cats", "--kb", str(kb), "--mode", "lexical", "--json",
                                      "--source", "*.txt"], env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["mode"] == "lexical" and payload["hits"][0]["source"].endswith(".txt")
    result = CliRunner().invoke(app, ["search", "zebra violin", "--kb", str(kb), "--min-score", "0.99"], env=env)
    assert result.exit_code == 0 and "nothing relevant found" in result.output
