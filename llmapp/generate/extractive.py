"""`extractive`: no language model: answers from the best-supported sentences of the retrieved passages.

Each sentence of each passage is scored by the question terms it contains, weighted by how rare each term is
among the passages' sentences (an IDF), divided by the square root of the sentence's length so long sentences
do not win by size alone. Terms: lowercased English words (minus a few function words) and Chinese character
bigrams. A sentence that is itself a question ("Does it need a GPU?") hands its score on to the sentences
after it, which is where FAQ-style documents put the answer; a Markdown heading does the same for its
section. The best sentences are returned in document order, each run from one passage followed by its
citation `[n]`. Deterministic, and never invents text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmapp.generate.base import Message, approx_tokens, options_from, stop_at, validate_messages
from llmapp.generate.registry import GeneratorConfig
from llmapp.language import is_heading, split_sentences
from llmcommon.cjk import IDEOGRAPH_RUN

_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|[a-z0-9]")
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "in",
    "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which",
    "who", "why", "will", "with", "you", "your",
))
_PASSAGE = re.compile(r"^\[(\d+)\]\s*(.*?)(?=^\[\d+\]|\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)
_QUESTION_END = ("?", "？")


def terms(text: str) -> list[str]:
    """Scoring terms: English words, Chinese character bigrams (a lone character for a one-character run)."""
    lowered = text.lower()
    words = [w for w in _WORD.findall(IDEOGRAPH_RUN.sub(" ", lowered)) if w not in _STOPWORDS]
    for run in IDEOGRAPH_RUN.findall(lowered):
        words.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return words


@dataclass(frozen=True)
class _Sentence:
    passage: int  # 1-based passage number
    position: int  # index within the passage
    text: str
    terms: frozenset[str]
    length: int


@dataclass
class ExtractiveGenerator:
    max_sentences: int = 2
    min_relative_score: float = 0.35  # a sentence must score this share of the best one to be kept
    context_window: int = 4096
    name: str = "extractive"
    model: str = "extractive"

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> ExtractiveGenerator:
        return cls(context_window=config.context_window or 4096)

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def answer(self, question: str, passages: list[str], **opts: Any) -> Iterator[str]:
        options = options_from(opts)
        text = self._compose(question, passages)
        yield from stop_at(_budgeted(text, options.max_tokens), options.stop)

    def generate(self, messages: list[Message], **opts: Any) -> str:
        return "".join(self.stream(messages, **opts))

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        """From a rendered prompt: passages are the `[n] ...` blocks, the question the last other line."""
        validate_messages(messages)
        question, passages = _parse_prompt(messages)
        return self.answer(question, passages, **opts)

    def _compose(self, question: str, passages: list[str]) -> str:
        sentences = [
            _Sentence(n, i, s, frozenset(terms(s)), max(1, len(terms(s))))
            for n, passage in enumerate(passages, start=1)
            for i, s in enumerate(split_sentences(passage))
        ]
        if not sentences:
            return ""
        chosen = self._choose(sentences, question)
        return _render(chosen)

    def _choose(self, sentences: list[_Sentence], question: str) -> list[_Sentence]:
        scores = _scores(sentences, set(terms(question)))
        best = max(scores) if scores else 0.0
        if best <= 0:  # nothing overlaps: the top passage's first statement is the safest thing to say
            statements = [s for s in sentences if not _is_cue(s.text)]
            return (statements or sentences)[:1]
        order = sorted(range(len(sentences)), key=lambda i: (-scores[i], sentences[i].passage, i))
        keep = [i for i in order if scores[i] >= self.min_relative_score * best][: self.max_sentences]
        return [sentences[i] for i in sorted(keep)]


def _scores(sentences: list[_Sentence], question_terms: set[str]) -> list[float]:
    df = Counter(term for s in sentences for term in s.terms)
    n = len(sentences)
    idf = {term: math.log(1 + n / count) for term, count in df.items()}
    raw = [sum(idf[t] for t in s.terms & question_terms) / math.sqrt(s.length) for s in sentences]
    scores = list(raw)
    carried, decay, passage = 0.0, 1.0, 0
    for i, s in enumerate(sentences):
        if s.passage != passage:
            carried, passage = 0.0, s.passage
        if _is_cue(s.text):  # a question or a heading: what follows it answers it
            carried, decay, scores[i] = raw[i], 0.9, 0.0
            continue
        scores[i] = max(raw[i], carried * decay)
        decay *= 0.85
    return scores


def _is_cue(text: str) -> bool:
    return text.endswith(_QUESTION_END) or is_heading(text)


def _render(chosen: list[_Sentence]) -> str:
    parts: list[str] = []
    for i, sentence in enumerate(chosen):
        parts.append(sentence.text)
        last_of_run = i + 1 == len(chosen) or chosen[i + 1].passage != sentence.passage
        if last_of_run:
            parts[-1] += f" [{sentence.passage}]"
    text = ""
    for part in parts:  # Chinese sentences follow each other without a space
        text += part if not text or IDEOGRAPH_RUN.match(text[-1]) or text[-1] in "。！？；：”」" else " " + part
    return text


def _budgeted(text: str, max_tokens: int) -> Iterator[str]:
    """The answer in word-sized pieces, at most `max_tokens` estimated tokens."""
    used = 0
    for piece in re.findall(r"\S+\s*|\s+", text):
        used += approx_tokens(piece)
        if used > max_tokens:
            return
        yield piece


def _parse_prompt(messages: list[Message]) -> tuple[str, list[str]]:
    passages: list[str] = []
    for message in messages:
        passages.extend(" ".join(m.group(2).split()) for m in _PASSAGE.finditer(message["content"]))
    users = [m["content"] for m in messages if m["role"] == "user"]
    last = users[-1] if users else messages[-1]["content"]
    outside = [line.strip() for line in _PASSAGE.sub("", last).splitlines() if line.strip()]
    question = outside[-1] if outside else last
    if not passages:  # no numbered passages: everything said before the question is the context
        passages = [m["content"] for m in messages[:-1] if m["content"].strip()] or [last]
    return question, passages
