"""Constrained choice: each choice's mean token log-probability as the reply, from the model's own logits."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmapp.generate import FakeGenerator, GeneratorConfig, open_generator
from llmapp.generate.choices import choice_logprobs

MESSAGES = [{"role": "system", "content": "Pick one."}, {"role": "user", "content": "cats or dogs?"}]
CHOICES = ["cats", "dogs and cats", "正面"]


def test_transformers_scores_match_one_full_forward_pass_per_choice(tiny_chat_model: Path) -> None:
    import torch

    generator = open_generator(GeneratorConfig(backend="transformers", model=str(tiny_chat_model), device="cpu"))
    scores = choice_logprobs(generator, MESSAGES, CHOICES)  # type: ignore[arg-type]
    model, tokenizer = generator._model, generator._tokenizer  # type: ignore[attr-defined]
    prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    expected = []
    for choice in CHOICES:
        ids = tokenizer(choice, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(torch.tensor([prompt_ids + ids])).logits[0, len(prompt_ids) - 1:-1]
        expected.append(float(logits.log_softmax(-1)[range(len(ids)), ids].mean()))
    assert scores == pytest.approx(expected, abs=1e-4)
    assert len({round(s, 6) for s in scores}) == 3 and all(s < 0 for s in scores)


def test_generators_without_logits_say_so() -> None:
    assert choice_logprobs(FakeGenerator(), MESSAGES, CHOICES) is None  # type: ignore[arg-type]


def test_llamacpp_scores_match_its_own_logprobs() -> None:
    pytest.importorskip("llama_cpp")
    generator = open_generator(GeneratorConfig(backend="llamacpp", threads=1, context_window=512))
    first = choice_logprobs(generator, MESSAGES, CHOICES)
    again = choice_logprobs(generator, MESSAGES, list(reversed(CHOICES)))
    assert first is not None and again is not None
    assert first == pytest.approx(list(reversed(again)), abs=1e-3)  # no state leaks from one choice to the next
    assert all(s < 0 for s in first)
    reply = generator.generate(MESSAGES, max_tokens=4)  # generation still works after scoring
    assert isinstance(reply, str)
