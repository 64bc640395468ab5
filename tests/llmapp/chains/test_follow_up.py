"""A new question is searched as asked; only a turn that refers back is condensed (English and Chinese)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmapp.chains import ChatChain, ChatHistory, QAChain
from llmapp.chains.follow_up import refers_back
from llmapp.generate import ExtractiveGenerator, FakeGenerator
from llmapp.hits import Hit
from tests.support.fixed_hits import FixedRetriever

FOLLOW_UPS = [
    "它的缺点呢？", "那它呢？", "这个怎么安装？", "还有别的方法吗？", "英文文档呢", "为什么？", "举个例子",
    "它们有什么区别？", "其优点是什么？", "也支持 PDF 吗？", "那么速度如何？",
    "What about it?", "And on a laptop?", "Why is that?", "What does that mean?", "How do they compare?",
    "Why?", "On a GPU?", "Tell me more", "Is this the default?", "What else?", "Can I use its API instead?",
]
NEW_QUESTIONS = [
    "LoRA 是什么？", "What is LoRA?", "知识库如何增量更新？", "应该用哪个嵌入模型？", "因此需要 GPU 吗？",
    "其实 llmapp 支持哪些格式？", "Which file formats can be ingested?",
    "Is there a command that lists knowledge bases?",
    "In which file is the index stored?", "Is it possible to ingest PDFs?", "How do I install llmapp?",
    "What is knowledge distillation?", "GAN 是谁提出的？",
]


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_turns_that_refer_back(question: str) -> None:
    assert refers_back(question)


@pytest.mark.parametrize("question", NEW_QUESTIONS)
def test_new_questions_stand_alone(question: str) -> None:
    assert not refers_back(question)


def test_new_english_question_after_a_chinese_follow_up_is_not_condensed(hits: list[Hit], tmp_path: Path) -> None:
    fake = FakeGenerator(replies=["LoRA 是一种微调方法 [1]。", "LoRA 的缺点是什么？", "缺点是…… [1]。",
                                  "LoRA is a fine-tuning method [1]."])
    retriever = FixedRetriever(hits)
    chat = ChatChain(QAChain(retriever, fake), ChatHistory(tmp_path / "chat.sqlite"))
    chat.invoke("LoRA 是什么？")
    follow_up = chat.invoke("它的缺点呢？")
    calls = len(fake.calls)
    new = chat.invoke("What is LoRA?")
    assert follow_up.standalone_question == "LoRA 的缺点是什么？"  # condensed by the generator
    assert len(fake.calls) == calls + 1, "a new question costs one generation (the answer), no condensing"
    assert new.standalone_question == "What is LoRA?" and retriever.queries[-1] == "What is LoRA?"
    assert new.language == "en"


def test_extractive_rule_leaves_new_questions_alone(hits: list[Hit], tmp_path: Path) -> None:
    retriever = FixedRetriever(hits)
    chat = ChatChain(QAChain(retriever, ExtractiveGenerator()), ChatHistory(tmp_path / "chat.sqlite"))
    chat.invoke("LoRA 是什么？")
    chat.invoke("它的缺点呢？")
    chat.invoke("What is LoRA?")
    chat.invoke("And on a laptop?")
    assert retriever.queries == ["LoRA 是什么？", "LoRA 是什么？它的缺点呢？", "What is LoRA?",
                                 "What is LoRA? And on a laptop?"]
