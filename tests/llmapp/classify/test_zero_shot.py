"""Zero-shot classification: label parsing, LLM replies matched to labels, embedding similarity with MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmapp.classify import EmbeddingZeroShot, LlmZeroShot, OutputSpec, classify_rows, parse_labels
from llmapp.classify.tables import Row
from llmapp.classify.zero_shot import match_label
from llmapp.errors import ConfigError
from llmapp.generate import FakeGenerator, GeneratorConfig, open_generator
from tests.support.tiny_causal_lm import build_tiny_chat_model


def test_parse_labels_with_descriptions() -> None:
    labels = parse_labels("billing=questions about invoices and refunds, shipping ,其他=其他问题")
    assert [(x.name, x.description) for x in labels] == [
        ("billing", "questions about invoices and refunds"), ("shipping", "shipping"), ("其他", "其他问题")]
    for bad in ("billing", "a,a", "a,,="):
        with pytest.raises(ConfigError, match="--labels"):
            parse_labels(bad)


def test_match_label() -> None:
    labels = ["billing", "shipping"]
    assert match_label(" Shipping.", labels) == 1
    assert match_label("The answer is billing, not shipping", labels) == 0
    assert match_label("no idea", labels) is None


def test_llm_zero_shot_uses_the_prompt_and_reports_unmatched_replies() -> None:
    generator = FakeGenerator(replies=["shipping", "I would say billing.", "no idea"])
    scorer = LlmZeroShot(generator, parse_labels("billing,shipping"))
    rows = [Row(0, {"text": "where is my parcel"}), Row(1, {"text": "refund my card"}), Row(2, {"text": "hi"})]
    spec = OutputSpec("text")
    out = classify_rows(scorer, rows, spec, spec.names(["text"]))
    assert [(r["status"], r.get("label")) for r in out] == [("ok", "shipping"), ("ok", "billing"), ("error", None)]
    assert out[2]["error"] == "the model's answer named no label: 'no idea'"
    prompt = generator.calls[0].messages
    assert "- billing\n- shipping\n" in prompt[0]["content"] and "where is my parcel" in prompt[-1]["content"]
    assert "billing or shipping?" in prompt[-1]["content"]


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-llama"))


def test_llm_zero_shot_with_a_local_model_is_a_constrained_choice(tiny_chat_model: Path) -> None:
    generator = open_generator(GeneratorConfig(backend="transformers", model=str(tiny_chat_model), device="cpu"))
    scorer = LlmZeroShot(generator, parse_labels("正面,负面=差评"))
    scores = scorer.scores(["这家酒店很好", "服务太差了", "x" * 5000])
    assert scores.shape == (3, 2) and not np.isnan(scores).any()
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_embedding_zero_shot_on_a_small_labelled_set() -> None:
    labels = parse_labels("billing=invoices, payments, charges and refunds;"
                          "shipping=delivery of parcels, couriers and tracking;"
                          "account=passwords, logins and profile settings")
    examples = [
        ("I was charged twice for my order, please refund me", "billing"),
        ("My invoice shows the wrong amount", "billing"),
        ("Can I pay with a credit card?", "billing"),
        ("My parcel has not arrived yet", "shipping"),
        ("The courier left the box at the wrong address", "shipping"),
        ("How do I track my delivery?", "shipping"),
        ("I forgot my password and cannot log in", "account"),
        ("How do I change the email on my profile?", "account"),
        ("我的包裹还没有送到", "shipping"),
    ]
    scorer = EmbeddingZeroShot.load(labels)
    scores = scorer.scores([text for text, _ in examples])
    predicted = [scorer.labels[i] for i in scores.argmax(axis=1)]
    correct = sum(p == gold for p, (_, gold) in zip(predicted, examples, strict=True))
    assert correct >= 8, list(zip(predicted, examples, strict=True))
    assert scores.shape == (9, 3) and (scores <= 1.0001).all()
