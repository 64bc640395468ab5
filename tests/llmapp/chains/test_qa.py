"""The QA chain with fixed hits: packing, numbering, citations, the no-answer path, timings, Runnable API."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmapp.chains import QAChain, pack
from llmapp.errors import ConfigError
from llmapp.generate import ExtractiveGenerator, FakeGenerator, GenerationOptions, GeneratorConfig, open_generator
from llmapp.hits import Hit
from tests.support.fixed_hits import FAQ, ZH, FixedRetriever, hit


def test_passages_are_numbered_in_rank_order_and_cited(hits: list[Hit]) -> None:
    fake = FakeGenerator(replies=["Every default model runs on a CPU [1]. Grass is green [3][9]."])
    answer = QAChain(FixedRetriever(hits), fake).invoke("Does llmapp need a GPU?")
    prompt = fake.calls[0].messages[-1]["content"]
    first, second, third = ('<passage n="1">\nDoes llmapp', '<passage n="2">\n## 增量更新', '<passage n="3">\nGrass')
    assert prompt.index(first) < prompt.index(second) < prompt.index(third)
    assert answer.text == "Every default model runs on a CPU [1]. Grass is green [3]."
    assert [(c.n, c.source, c.chunk_id) for c in answer.citations] == [(1, "faq.txt", 101), (3, "grass.txt", 103)]
    assert answer.answered and answer.language == "en" and len(answer.hits) == 3


def test_prompt_language_follows_the_question(hits: list[Hit]) -> None:
    fake = FakeGenerator(replies=["再次运行导入 [2]。"])
    answer = QAChain(FixedRetriever(hits), fake).invoke("知识库如何更新？")
    assert answer.language == "zh"
    assert "问题：知识库如何更新？" in fake.calls[0].messages[-1]["content"]


@pytest.mark.parametrize("question", ["What is the meaning of life?", "生命的意义是什么？"])
def test_nothing_relevant_means_no_generation(hits: list[Hit], question: str) -> None:
    fake = FakeGenerator()
    chain = QAChain(FixedRetriever(hits, min_score=0.95), fake)
    answer = chain.invoke(question)
    assert not answer.answered and not answer.citations and not answer.hits
    assert fake.calls == []
    assert ("nothing relevant" in answer.text) if answer.language == "en" else ("没有找到" in answer.text)
    assert answer.to_dict()["answered"] is False


def test_lowest_ranked_passages_are_dropped_to_fit(hits: list[Hit]) -> None:
    long = [hit(i, f"passage {i} " + "word " * 60) for i in range(1, 6)]
    fake = FakeGenerator(context_window=300)
    QAChain(FixedRetriever(long), fake, options=GenerationOptions(max_tokens=50)).invoke("which passage?")
    prompt = fake.calls[0].messages[-1]["content"]
    assert '<passage n="1">\npassage 1' in prompt and '<passage n="2">\npassage 2' in prompt
    assert "passage 5" not in prompt and "passage 4" not in prompt


def test_a_passage_too_long_for_the_window_is_cut(tiny_chat_model: Path) -> None:
    generator = open_generator(GeneratorConfig(backend="transformers", model=str(tiny_chat_model)))
    huge = hit(1, "A knowledge base is a folder. " * 400)
    packed = pack([huge, hit(2, "second")], generator, budget=100)
    assert len(packed) == 1 and packed[0].truncated
    assert 80 <= generator.count_tokens(packed[0].text) <= 100  # 100 less the delimiters' 12


def test_window_too_small_for_the_answer_is_an_error(hits: list[Hit]) -> None:
    chain = QAChain(FixedRetriever(hits), FakeGenerator(context_window=128),
                    options=GenerationOptions(max_tokens=120))
    with pytest.raises(ConfigError, match="lower max_tokens"):
        chain.invoke("Does llmapp need a GPU?")


def test_stream_yields_partials_then_the_checked_answer(hits: list[Hit]) -> None:
    chain = QAChain(FixedRetriever(hits), FakeGenerator(replies=["It runs on a CPU [1][4]."]))
    parts = list(chain.stream({"question": "Does llmapp need a GPU?"}))
    *partials, final = parts
    assert partials and all(not p.final for p in partials) and final.final
    assert "".join(p.delta for p in partials) == "It runs on a CPU [1][4]."
    assert final.text == "It runs on a CPU [1]."
    timings = final.timings
    assert timings is not None and timings.first_token_ms is not None
    assert 0 <= timings.retrieve_ms <= timings.first_token_ms <= timings.total_ms


def test_batch_answers_each_question(hits: list[Hit]) -> None:
    chain = QAChain(FixedRetriever(hits), ExtractiveGenerator())
    answers = chain.batch(["Does llmapp need a GPU?", "知识库如何增量更新？"])
    assert "CPU" in answers[0].text and "[1]" in answers[0].text
    assert "再次运行" in answers[1].text and answers[1].citations[0].source == "知识库.md"


def test_extractive_gets_passages_not_a_prompt(hits: list[Hit]) -> None:
    answer = QAChain(FixedRetriever(hits), ExtractiveGenerator()).invoke("Which languages are supported?")
    assert answer.text == "English and Chinese. [1]"
    assert answer.citations[0].text == hits[0].text


def test_composes_with_other_runnables(hits: list[Hit]) -> None:
    from langchain_core.runnables import RunnableLambda

    chain = RunnableLambda(lambda q: q.strip()) | QAChain(FixedRetriever(hits), ExtractiveGenerator()) \
        | RunnableLambda(lambda a: a.text)
    assert chain.invoke("  Which languages are supported?  ") == "English and Chinese. [1]"


def test_bad_input_is_explained(hits: list[Hit]) -> None:
    chain = QAChain(FixedRetriever(hits), FakeGenerator())
    with pytest.raises(ConfigError, match="question"):
        chain.invoke({"query": "x"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(ConfigError, match="empty"):
        chain.invoke("  ")


def test_unmarked_answer_is_attributed_to_the_passage_it_came_from(hits: list[Hit]) -> None:
    copied = QAChain(FixedRetriever(hits), FakeGenerator(replies=["Every default model runs on a CPU."]))
    answer = copied.invoke("Does llmapp need a GPU?")
    assert [(c.n, c.attributed) for c in answer.citations] == [(1, True)]
    assert answer.text == "Every default model runs on a CPU [1]."  # the words are not changed
    assert answer.grounding == "generated" and answer.sentences[0].status == "reattributed"
    invented = QAChain(FixedRetriever(hits), FakeGenerator(replies=["Bananas are yellow fruit."])).invoke(
        "Does llmapp need a GPU?")
    assert "Bananas" not in invented.text and invented.grounding == "extractive"
    assert [s.status for s in invented.sentences][0] == "dropped"


def test_passages_far_below_the_best_one_are_not_shown() -> None:
    scored = [hit(1, FAQ, "faq.txt", score=0.61), hit(2, "Grass is green.", "grass.txt", score=0.26),
              hit(3, ZH, "知识库.md", score=0.02)]
    fake = FakeGenerator(replies=["No [1].", "No [1]."])
    answer = QAChain(FixedRetriever(scored), fake).invoke("Does llmapp need a GPU?")
    prompt = fake.calls[0].messages[-1]["content"]
    assert '<passage n="1">\nDoes llmapp' in prompt and "Grass" not in prompt and "增量更新" not in prompt
    assert [h.source for h in answer.hits] == ["faq.txt"]
    QAChain(FixedRetriever(scored), fake, min_relative_score=0.0).invoke("Does llmapp need a GPU?")
    assert '<passage n="3">\n## 增量更新' in fake.calls[1].messages[-1]["content"]
    with pytest.raises(ConfigError, match="share of the best hit"):
        QAChain(FixedRetriever(scored), fake, min_relative_score=1.5)


def test_the_draft_ends_where_a_small_model_starts_copying_the_prompts_passages(hits: list[Hit]) -> None:
    reply = 'Every default model runs on a CPU [1].\n</passage>\n<passage n="4">\n## 常见问题'
    answer = QAChain(FixedRetriever(hits), FakeGenerator(replies=[reply])).invoke("Does llmapp need a GPU?")
    assert answer.text == "Every default model runs on a CPU [1]."
    streamed = QAChain(FixedRetriever(hits), FakeGenerator(replies=[reply])).stream("Does llmapp need a GPU?")
    assert "passage" not in "".join(part.delta for part in streamed if not part.final)  # the draft the CLI shows
