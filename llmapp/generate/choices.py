"""Constrained choice: how likely a local model finds each of a few fixed replies to a chat, instead of
letting it write freely and hoping the text names one of them.

The score of a choice is the mean log-probability of its tokens as the start of the assistant's reply
(mean, not sum, so that a label of three tokens is not penalised against a label of one). A 135M model asked to
"reply with one of: positive, negative" often writes something else; asked which of the two replies is more
likely, it always answers, and better than chance.

`choice_logprobs(generator, messages, choices)` works with the backends that expose their model's logits
(`llamacpp`, `transformers`) and returns None for the others (a server, the fakes), whose callers fall back to
generating and matching the text.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from llmapp.errors import ModelError
from llmapp.generate.base import Message


def choice_logprobs(generator: Any, messages: list[Message], choices: Sequence[str]) -> list[float] | None:
    """Mean token log-probability of each choice as the reply, or None when the backend cannot tell."""
    score = getattr(generator, "choice_logprobs", None)
    return score(messages, list(choices)) if callable(score) else None


def llama_choice_logprobs(llama: Any, messages: list[Message], choices: list[str]) -> list[float]:
    """For a `llama_cpp.Llama`: the prompt is read once; each choice continues from its cached state."""
    llama.reset()
    llama.eval(llama.tokenize(_llama_prompt(llama, messages).encode("utf-8"), add_bos=True, special=True))
    start, after_prompt = llama.n_tokens, _last_logprobs(llama)
    scores = []
    for choice in choices:
        tokens = llama.tokenize(choice.encode("utf-8"), add_bos=False, special=False)
        llama.n_tokens = start  # the next eval drops whatever the previous choice appended
        logprobs, total = after_prompt, 0.0
        for i, token in enumerate(tokens):
            total += float(logprobs[token])
            if i + 1 < len(tokens):
                llama.eval([token])
                logprobs = _last_logprobs(llama)
        scores.append(total / max(1, len(tokens)))
    llama.reset()
    return scores


def causal_lm_choice_logprobs(model: Any, tokenizer: Any, messages: list[Message], choices: list[str]
                              ) -> list[float]:
    """For a transformers causal LM: the prompt is read once; each choice continues from its cached state."""
    import torch

    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    with torch.inference_mode():
        read = model(torch.tensor([prompt_ids], device=model.device), use_cache=True)
        cache, after_prompt = read.past_key_values, read.logits[0, -1:].float()
        for choice in choices:
            ids = tokenizer(choice, add_special_tokens=False)["input_ids"]
            logits = after_prompt
            if len(ids) > 1:
                more = model(torch.tensor([ids[:-1]], device=model.device), past_key_values=copy.deepcopy(cache),
                             use_cache=True)  # a copy: the forward pass appends to the cache it is given
                logits = torch.cat([after_prompt, more.logits[0].float()])
            picked = logits.log_softmax(-1).gather(1, torch.tensor(ids, device=logits.device).unsqueeze(1))
            scores.append(float(picked.mean()))
    return scores


def _llama_prompt(llama: Any, messages: list[Message]) -> str:
    """The chat as the GGUF's own template renders it, ending where the assistant's reply starts."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError("this GGUF file has no chat template: constrained choice needs one")
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(template=template, eos_token=_token_text(llama, eos),
                                    bos_token=_token_text(llama, bos))
    return str(formatter(messages=cast(Any, messages)).prompt)  # our Message is its message dict


def _token_text(llama: Any, token: int) -> str:
    return llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""


def _last_logprobs(llama: Any) -> np.ndarray:
    logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).astype(np.float64)
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())
