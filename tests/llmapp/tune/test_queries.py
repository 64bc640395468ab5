"""Pseudo-queries in the chunk's language: a cut sentence, a title, a keyphrase; or a generator's question."""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest

from llmapp.language import detect_language
from llmapp.tune.queries import (
    Passage,
    generated_queries,
    keyphrase_query,
    pseudo_queries,
    sentence_query,
    title_query,
)

EN = ("Tomatoes grow best in sunny gardens. They need regular watering and rich soil. "
      "Gardeners stake them so the fruit stays off the ground.")
ZH = "大熊猫是中国特有的物种。它们主要生活在四川、陕西和甘肃的山区。大熊猫每天要吃大量的竹子来维持体力。"


def _passage(text: str, title: str = "", ordinal: int = 1) -> Passage:
    return Passage(7, text, ("notes.txt", "notes.txt"), title, ordinal)


def test_an_english_sentence_is_cut_out_and_the_rest_is_the_positive() -> None:
    query = sentence_query(_passage(EN), random.Random(1))
    assert query is not None and query.kind == "sentence"
    assert query.text in EN and query.text not in query.positive
    assert len(query.positive) + len(query.text) + 1 == len(EN)
    assert detect_language(query.text) == "en" and query.chunk_id == 7


def test_a_chinese_sentence_is_cut_out_and_the_rest_joined_without_spaces() -> None:
    query = sentence_query(_passage(ZH), random.Random(1))
    assert query is not None and detect_language(query.text) == "zh"
    assert query.text in ZH and query.text not in query.positive and " " not in query.positive
    assert len(query.positive) + len(query.text) == len(ZH)


def test_one_sentence_gives_no_cut_but_a_keyphrase_in_text_order() -> None:
    single = _passage("Garbage collection trucks come by on Tuesday mornings near the old harbour.")
    assert sentence_query(single, random.Random(1)) is None
    [query] = pseudo_queries([single, _passage(EN)])[:1]
    assert query.kind == "keyphrase" and query.positive == single.text
    words = query.text.split()
    assert 3 <= len(words) <= 6 and all(w in single.text.lower() for w in words)
    text_words = single.text.lower().rstrip(".").split()
    positions = [text_words.index(w) for w in words]
    assert positions == sorted(positions)


def test_chinese_keyphrase_uses_the_chunk_tokens() -> None:
    tokens = ("长城", "是", "古代", "军事", "防御", "工程", "东起", "山海关", "西至", "嘉峪关")
    passage = Passage(3, "长城是古代军事防御工程，东起山海关，西至嘉峪关", ("a", "a"), "", 1, tokens)
    query = keyphrase_query(passage, Counter({"古代": 9}), 10)
    assert query is not None and query.text.startswith("长城") and " " not in query.text and "古代" not in query.text


def test_a_real_title_is_the_query_of_the_first_chunk_but_not_a_file_name() -> None:
    titled = _passage(EN, title="How to grow tomatoes at home", ordinal=0)
    assert title_query(titled) is not None and title_query(titled).kind == "title"  # type: ignore[union-attr]
    assert title_query(_passage(EN, title="notes/tomatoes.txt", ordinal=0)) is None
    assert title_query(_passage(EN, title="How to grow tomatoes at home", ordinal=2)) is None


def test_pseudo_queries_are_deterministic_for_a_seed() -> None:
    passages = [_passage(EN), _passage(ZH)]
    assert pseudo_queries(passages, seed=5) == pseudo_queries(passages, seed=5)
    assert {detect_language(q.text) for q in pseudo_queries(passages)} == {"en", "zh"}


def test_generated_questions_keep_the_first_line_and_skip_empty_replies() -> None:
    replies = iter(["What do tomatoes need?\nextra chatter", "  "])
    queries = generated_queries([_passage(EN), _passage(ZH)], lambda text: next(replies))
    assert [(q.text, q.kind) for q in queries] == [("What do tomatoes need?", "generated")]


def test_generated_questions_that_name_nothing_of_their_passage_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # what the shipped SmolLM2-135M replied for most SciFact abstracts, and a Chinese equivalent
    replies = iter(["What is the answer to this question?", "大熊猫每天吃什么？", "这段文章的主要内容是什么？",
                    "How do gardeners keep the fruit clean?"])
    passages = [_passage(EN), _passage(ZH), _passage(ZH), _passage(EN)]
    with caplog.at_level(logging.WARNING, logger="llmapp.tune.queries"):
        queries = generated_queries(passages, lambda text: next(replies))
    assert [q.text for q in queries] == ["大熊猫每天吃什么？", "How do gardeners keep the fruit clean?"]
    assert "2 of 4 generated questions name nothing of their passage" in caplog.text
    assert "What is the answer to this question?" in caplog.text
