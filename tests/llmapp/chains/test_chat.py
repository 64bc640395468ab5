"""The chat chain: follow-ups condensed (rule for extractive, the generator otherwise), history in SQLite."""

from __future__ import annotations

from pathlib import Path

from llmapp.chains import ChatChain, ChatHistory, QAChain, Turn, condense_by_rule, looks_like_follow_up
from llmapp.generate import ExtractiveGenerator, FakeGenerator
from llmapp.hits import Hit
from tests.support.fixed_hits import FixedRetriever


def test_follow_up_rule() -> None:
    assert looks_like_follow_up("And on a laptop?")
    assert looks_like_follow_up("What about it?")
    assert looks_like_follow_up("那它呢？")
    assert not looks_like_follow_up("Which file formats can be ingested into a knowledge base?")
    history = [Turn("user", "Does llmapp need a GPU?", "Does llmapp need a GPU?"), Turn("assistant", "No [1].")]
    assert condense_by_rule("What about it on a laptop?", history) \
        == "Does llmapp need a GPU? What about it on a laptop?"
    assert condense_by_rule("Which file formats are supported by the loaders?", history) \
        == "Which file formats are supported by the loaders?"
    assert condense_by_rule("它呢？", [Turn("user", "知识库如何更新？")]) == "知识库如何更新？它呢？"


def test_extractive_chat_condenses_by_rule_and_keeps_history(hits: list[Hit], tmp_path: Path) -> None:
    retriever = FixedRetriever(hits)
    chat = ChatChain(QAChain(retriever, ExtractiveGenerator()), ChatHistory(tmp_path / "chat.sqlite"))
    chat.invoke({"question": "Does llmapp need a GPU?", "conversation_id": "a"})
    second = chat.invoke({"question": "And is it fast?", "conversation_id": "a"})
    other = chat.invoke({"question": "And is it fast?", "conversation_id": "b"})
    assert retriever.queries == ["Does llmapp need a GPU?", "Does llmapp need a GPU? And is it fast?",
                                 "And is it fast?"]
    assert second.standalone_question == "Does llmapp need a GPU? And is it fast?"
    assert other.standalone_question == "And is it fast?"
    reopened = ChatHistory(tmp_path / "chat.sqlite")
    turns = reopened.turns("a")
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[1].citations[0]["source"] == "faq.txt"
    assert reopened.conversations() == ["b", "a"]
    assert chat.reset("a") == 4 and reopened.turns("a") == []


def test_generator_condenses_with_the_condense_prompt(hits: list[Hit], tmp_path: Path) -> None:
    fake = FakeGenerator(replies=["It runs on a CPU [1].", "Complete question: \"Does llmapp run on a laptop?\"\n"
                                  "extra line", "Yes [1]."])
    retriever = FixedRetriever(hits)
    chat = ChatChain(QAChain(retriever, fake), ChatHistory(tmp_path / "chat.sqlite"))
    chat.invoke("Does llmapp need a GPU?")
    answer = chat.invoke("And on a laptop?")
    condense_prompt = fake.calls[1].messages[-1]["content"]
    assert "User: Does llmapp need a GPU?" in condense_prompt and "Assistant: It runs on a CPU [1]." in condense_prompt
    assert "Follow-up question: And on a laptop?" in condense_prompt
    assert retriever.queries[-1] == "Does llmapp run on a laptop?"
    assert answer.question == "And on a laptop?" and answer.text == "Yes [1]."


def test_chinese_follow_up_gets_the_chinese_prompt(hits: list[Hit], tmp_path: Path) -> None:
    fake = FakeGenerator(replies=["再次运行导入 [2]。", "知识库更新时会跳过未修改的文件吗？", "会 [2]。"])
    chat = ChatChain(QAChain(FixedRetriever(hits), fake), ChatHistory(tmp_path / "chat.sqlite"))
    chat.invoke("知识库如何更新？")
    answer = chat.invoke("那未修改的文件呢？")
    assert "追问：那未修改的文件呢？" in fake.calls[1].messages[-1]["content"]
    assert answer.language == "zh" and answer.standalone_question == "知识库更新时会跳过未修改的文件吗？"


def test_stream_stores_the_exchange_once(hits: list[Hit], tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite")
    chat = ChatChain(QAChain(FixedRetriever(hits), FakeGenerator(replies=["CPU [1]."])), history)
    parts = list(chat.stream({"question": "Does llmapp need a GPU?", "conversation_id": "s"}))
    assert parts[-1].final and len(history.turns("s")) == 2
