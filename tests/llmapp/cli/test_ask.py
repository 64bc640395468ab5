"""`llmapp ask`, `llmapp chat` and `llmapp models list` end to end on a small real knowledge base (extractive)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmapp.cli import app
from llmapp.cli.ask_cmd import cited_excerpt
from tests.support.retrieval_fixtures import build_kb


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_kb(tmp_path_factory.mktemp("ask"))


def test_ask_json(kb: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "What do pandas eat?", "--kb", str(kb), "--backend", "extractive",
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["answered"] and out["backend"] == "extractive" and out["hits"]
    assert set(out["timings"]) == {"retrieve_ms", "first_token_ms", "total_ms", "tokens_per_s"}
    assert out["timings"]["tokens_per_s"] is None  # nothing is decoded: no speed to report
    for cite in out["citations"]:
        assert f"[{cite['n']}]" in out["answer"] and 0.0 < cite["support"] <= 1.0
    assert out["grounding"] == "extractive"
    shown = [s for s in out["sentences"] if s["status"] != "dropped"]
    assert shown and all(s["support"] >= 0.5 and s["passage"] for s in shown)


def test_ask_streams_answer_then_sources_in_chinese(kb: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "熊猫吃什么？", "--kb", str(kb), "--backend", "extractive",
                                      "--mode", "lexical"])
    assert result.exit_code == 0, result.output
    assert "竹子" in result.output and "Sources (grounding: extractive):" in result.output and "zh.txt" in result.output


def test_nothing_relevant(kb: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "熊猫吃什么？", "--kb", str(kb), "--backend", "extractive",
                                      "--min-score", "1000", "--json"])
    out = json.loads(result.output)
    assert out["answered"] is False and out["citations"] == [] and "没有找到" in out["answer"]


def test_chat_session(kb: Path, tmp_path: Path) -> None:
    lines = "Install llmapp how?\n/sources\nAnd which Python?\n/reset\n/exit\n"
    result = CliRunner().invoke(app, ["chat", "--kb", str(kb), "--backend", "extractive", "--mode", "lexical",
                                      "--history", str(tmp_path / "h.sqlite")], input=lines)
    assert result.exit_code == 0, result.output
    assert "Install llmapp with pip" in result.output and "install.md" in result.output
    assert "forgot 4 turns" in result.output


def test_models_list_json() -> None:
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["name"] == "smollm2"


def test_a_sources_line_shows_the_passage_where_the_cited_answer_starts() -> None:
    passage = ("CLIP的模型和代码,鼓励研究者进一步探索。 ControlNet是什么 ControlNet是一种模型。 LoRA是什么 "
               "LoRA的核心思想是通过引入低秩矩阵来近似模型中的大矩阵变化。")
    answer = "LoRA的核心思想是通过引入低秩矩阵来近似模型中的大矩阵变化。 [1]"
    assert cited_excerpt(passage, 1, answer) == "…LoRA的核心思想是通过引入低秩矩阵来近似模型中的大矩阵变化。"
    assert cited_excerpt(passage, 1, answer, width=10) == "…LoRA的核心思想是"
    lead_in = "From a Chinese passage of zh.txt: ControlNet是一种模型。 [1]"  # an answer in another language
    assert cited_excerpt(passage, 1, lead_in, width=16) == "…ControlNet是一种模型。"
    assert cited_excerpt(passage, 2, answer) == passage  # [2] is not cited: the passage's start
    generated = "LoRA adds small low-rank matrices to a frozen model [1]."  # not the passage's words
    assert cited_excerpt(passage, 1, generated, width=12) == passage[:12]


def test_the_verified_line_counts_left_out_sentences_only_when_some_were(capsys: pytest.CaptureFixture[str]) -> None:
    from llmapp.chains import Answer
    from llmapp.chains.grounding import CheckedSentence
    from llmapp.cli.ask_cmd import _show_verified

    text = "GPT-3 has 175 billion parameters. [1]"
    named = Answer("q", "From a Chinese passage of zh.txt: " + text, True, "en", grounding="extractive",
                   sentences=[CheckedSentence("GPT-3 has 175 billion parameters.", 1, "cited", None)])
    _show_verified(named, text)
    assert "-- verified answer (grounding: extractive):" in capsys.readouterr().out
    dropped = Answer("q", text, True, "en", grounding="generated",
                     sentences=[CheckedSentence("It was made in 2015.", None, "dropped", None),
                                CheckedSentence("GPT-3 has 175 billion parameters.", 1, "cited", None)])
    _show_verified(dropped, "It was made in 2015. " + text)
    assert "(grounding: generated; 1 sentence(s) of the draft left out" in capsys.readouterr().out
