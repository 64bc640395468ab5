"""Answer metrics of `llmapp eval qa`: SQuAD normalisation, Chinese character F1, citation hits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmapp.chains import Answer, Citation
from llmapp.eval_qa import answer_tokens, citation_hit, exact_match, f1, read_squad, score, summarise


def test_english_normalisation() -> None:
    assert answer_tokens("The Eiffel Tower!") == ["eiffel", "tower"]
    assert exact_match("the eiffel tower", ["Eiffel Tower"]) == 1.0
    assert f1("Eiffel Tower in Paris", ["Eiffel Tower"]) == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_chinese_is_compared_by_character() -> None:
    assert answer_tokens("《红楼梦》 GPT4 模型。") == ["红", "楼", "梦", "gpt4", "模", "型"]
    assert exact_match("红楼梦。", ["《红楼梦》"]) == 1.0
    assert f1("曹雪芹写的红楼梦", ["红楼梦"]) == pytest.approx(2 * (3 / 8) * 1 / (3 / 8 + 1))
    assert f1("西游记", ["红楼梦"]) == 0.0


def _answer(text: str, cited: str, answered: bool = True) -> Answer:
    citations = [Citation(1, "a.txt", "a.txt", 1, cited)] if cited else []
    return Answer(question="q", text=text, answered=answered, language="zh", citations=citations)


def test_citation_hit_needs_a_cited_passage_containing_the_answer() -> None:
    assert citation_hit(_answer("红楼梦 [1]", "作者 曹雪芹 写了《红楼梦》"), ["红楼梦"])
    assert not citation_hit(_answer("红楼梦 [1]", "西游记"), ["红楼梦"])
    assert not citation_hit(_answer("红楼梦", ""), ["红楼梦"])


def test_summary_and_markers_not_counted(tmp_path: Path) -> None:
    data = {"data": [{"title": "t", "paragraphs": [{"context": "红楼梦的作者是曹雪芹。", "qas": [
        {"id": "q1", "question": "红楼梦的作者是谁？", "answers": [{"text": "曹雪芹", "answer_start": 7}]},
        {"id": "q2", "question": "没有答案？", "answers": []},
        {"id": "q3", "question": "作者？", "answers": [{"text": "曹雪芹", "answer_start": 7}]},
    ]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    items = read_squad(path)
    assert [i.id for i in items] == ["q1", "q3"] and read_squad(path, limit=1)[0].id == "q1"
    scored = [score(items[0], _answer("曹雪芹 [1]", "红楼梦的作者是曹雪芹。")),
              score(items[1], _answer("知识库中没有找到相关内容。", "", answered=False))]
    assert summarise(scored) == {"n": 2, "exact_match": 0.5, "f1": 0.5, "citation_hit_rate": 0.5,
                                 "no_answer_rate": 0.5}


def test_a_question_without_text_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """CMRC 2018's trial set has two questions whose text is empty; asking one aborted the whole evaluation."""
    data = {"data": [{"title": "t", "paragraphs": [{"context": "红楼梦的作者是曹雪芹。", "qas": [
        {"id": "TRIAL_1", "question": "", "answers": [{"text": "曹雪芹", "answer_start": 7}]},
        {"id": "TRIAL_2", "question": "作者是谁？", "answers": [{"text": "曹雪芹", "answer_start": 7}]},
    ]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with caplog.at_level("WARNING"):
        assert [i.id for i in read_squad(path)] == ["TRIAL_2"]
    assert "TRIAL_1" in caplog.text and "skipped" in caplog.text
