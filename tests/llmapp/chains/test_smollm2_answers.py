"""The shipped SmolLM2 answers a question from fixed passages through the whole QA chain (slow: real model)."""

from __future__ import annotations

import pytest

from llmapp.chains import QAChain
from llmapp.generate import GeneratorConfig, open_generator
from tests.support.fixed_hits import FixedRetriever, hit


@pytest.mark.slow
def test_smollm2_answers_from_the_passages() -> None:
    passages = [
        hit(1, "The capital of France is Paris. Paris is on the river Seine.", "france.txt"),
        hit(2, "Berlin is the capital of Germany.", "germany.txt"),
    ]
    generator = open_generator(GeneratorConfig(model="smollm2"))
    answer = QAChain(FixedRetriever(passages), generator).invoke("What is the capital of France?")
    assert answer.answered and "Paris" in answer.text
    assert answer.citations and answer.citations[0].source == "france.txt"
    timings = answer.timings
    assert timings is not None and timings.tokens_per_s is not None and timings.tokens_per_s > 0
