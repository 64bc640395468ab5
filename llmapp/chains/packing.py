"""Fit retrieved passages into the generator's context window.

budget = window - max_tokens (room for the answer) - the prompt without passages - a margin for the chat
template's own tokens. Passages go in by rank; the first one that does not fit ends the list, so the lowest
ranked are dropped first. When not even the best passage fits, it is cut to the budget rather than dropped:
an answer from part of the best passage beats no answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from llmapp.errors import ConfigError
from llmapp.generate.base import Generator
from llmapp.hits import Hit

logger = logging.getLogger(__name__)

TEMPLATE_MARGIN = 32  # tokens for role markers and separators the chat template adds
PER_PASSAGE = 12  # the <passage n="N"> ... </passage> delimiters and their line breaks


@dataclass(frozen=True)
class Passage:
    n: int  # 1-based number shown to the generator
    hit: Hit
    text: str  # the hit's text, possibly cut to fit
    truncated: bool


def passage_budget(generator: Generator, max_tokens: int, prompt_tokens: int) -> int:
    budget = generator.context_window - max_tokens - prompt_tokens - TEMPLATE_MARGIN
    if budget < 16:
        raise ConfigError(
            f"no room for passages: the window of {generator.context_window} tokens minus {max_tokens} for the "
            f"answer and {prompt_tokens} for the prompt leaves {budget}; lower max_tokens"
        )
    return budget


def pack(hits: list[Hit], generator: Generator, budget: int) -> list[Passage]:
    """The best-ranked hits that fit in `budget` tokens, numbered 1..n in rank order."""
    passages: list[Passage] = []
    used = 0
    for hit in sorted(hits, key=lambda h: h.rank):
        cost = generator.count_tokens(hit.text) + PER_PASSAGE
        if used + cost > budget:
            if not passages:
                passages.append(Passage(1, hit, _cut(hit.text, generator, budget - PER_PASSAGE), True))
            break
        passages.append(Passage(len(passages) + 1, hit, hit.text, False))
        used += cost
    if len(passages) < len(hits):
        logger.info("packed %d of %d passages into %d tokens", len(passages), len(hits), budget)
    return passages


def _cut(text: str, generator: Generator, tokens: int) -> str:
    """The longest prefix of `text` within `tokens` (binary search on characters)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if generator.count_tokens(text[:mid]) <= tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low]
