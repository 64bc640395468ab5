"""`extractive`: no language model: answers from the best-supported sentences of the retrieved passages.

Candidates are the passages' sentences minus headings, code (unless the question asks for code), page
furniture and ads, and fragments (`llmapp.generate.sentences`). Each is scored by the question terms it
contains, weighted by how rare each term is among the passages' sentences (an IDF), divided by the square
root of the sentence's length so long sentences do not win by size alone (terms: lowercased English words
minus a few function words, Chinese character bigrams). A heading or a sentence that is itself a question
hands its score on to the sentences after it, which is where FAQ-style documents put the answer. With an
encoder (the knowledge base's embedder or the multilingual one), the question-sentence cosine is added: for
every question (`similarity="always"`), or only when most candidate sentences are in another language than
the question (`"cross-lingual"`: an English question over Chinese passages shares few words with them, and
the words it shares are names and glosses, "Graph" in "Graph Attention Networks" for "computation graph").
Term glosses in the passages ("权重剪枝(Weight Pruning)") bridge the two languages: a sentence that names a term
the question asks about, in either language, carries the question's words for it (`llmapp.generate.glossary`).
A sentence of the shape the question asks for (a year for "which year", a number for "how many") gets a bonus.
Sentences in the question's language win when they score close to the best one. The best sentences are
returned in document order, each run from one passage followed by its citation `[n]`. Deterministic, and
never invents text.
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from llmapp.generate.base import Message, approx_tokens, options_from, stop_at, validate_messages
from llmapp.generate.glossary import Gloss, bridge, glosses
from llmapp.generate.registry import GeneratorConfig
from llmapp.generate.sentences import (
    MIN_TERMS,
    Kind,
    asks_for_code,
    candidate_sentences,
    has_answer_shape,
    question_type,
    sentence_language,
)
from llmapp.language import Language, detect_language
from llmcommon.cjk import IDEOGRAPH_RUN

_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|[a-z0-9]")
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "in",
    "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which",
    "who", "why", "will", "with", "you", "your",
))
_PASSAGE = re.compile(r"^\[(\d+)\]\s*(.*?)(?=^\[\d+\]|\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)
_QUESTION_END = ("?", "？")
_PIECE = re.compile(r"[\u3400-\u9fff][^\S\n]*|[^\s\u3400-\u9fff]+\s*|\s+")
# The encoder's question-sentence cosine is added to the lexical score with this weight (lexical scores run
# about 0..3); sentences of the right shape for the question type (a number for "how many") get SHAPE_BONUS.
SIMILARITY_WEIGHT = 1.0
SHAPE_BONUS = 0.25
# A sentence in the question's language is preferred when it scores this share of the best one.
SAME_LANGUAGE_SHARE = 0.6
# A sentence adding fewer content terms than this to the question's says it back (the grounding check drops
# it too); the sentences beside it get this share of its score.
ECHO_NEW_TERMS = 1
ECHO_SHARE = 0.9


# Chinese question words: "是什么" of "Dropout 是什么方法？" made 是什/什么 question terms, and headings such as
# "T5是什么" (rare bigrams, so heavily weighted) handed their score to the sentences under them.
_INTERROGATIVE = re.compile(r"为什么|什么|哪些|哪个|哪一|哪里|哪儿|怎么样|怎么|怎样|如何|多少|谁|吗|呢")


def question_terms(question: str) -> set[str]:
    """The question's scoring terms, without its question words (什么, 哪些, 如何…; English ones are stopwords)."""
    return set(terms(_INTERROGATIVE.sub(" ", question)))


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
    kind: Kind = "text"  # headings stay in the list as cues for the sentences under them


@dataclass(frozen=True)
class Pick:
    """A chosen sentence: which passage it is from, and how relevant it is to the question."""

    passage: int
    text: str
    score: float  # relative to the best candidate: 1.0 for the best
    overlap: bool  # shares at least one content term with the question
    similarity: float | None  # the encoder's question-sentence cosine, None without an encoder
    lift: float | None = None  # its similarity minus the median over all candidate sentences


@dataclass
class ExtractiveGenerator:
    max_sentences: int = 2
    min_relative_score: float = 0.5  # a sentence must score this share of the best one to be kept
    context_window: int = 4096
    name: str = "extractive"
    model: str = "extractive"
    encoder: Any = None  # embeds texts (an ingest Embedder); adds the question-sentence similarity
    similarity: Literal["always", "cross-lingual"] = "always"  # when the encoder's similarity is added

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> ExtractiveGenerator:
        return cls(context_window=config.context_window or 4096)

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def answer(self, question: str, passages: list[str], **opts: Any) -> Iterator[str]:
        options = options_from(opts)
        text = render(self.select(question, passages))
        yield from stop_at(_budgeted(text, options.max_tokens), options.stop)

    def generate(self, messages: list[Message], **opts: Any) -> str:
        return "".join(self.stream(messages, **opts))

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        """From a rendered prompt: passages are the `[n] ...` blocks, the question the last other line."""
        validate_messages(messages)
        question, passages = _parse_prompt(messages)
        return self.answer(question, passages, **opts)

    def select(self, question: str, passages: list[str]) -> list[Pick]:
        """The best answer sentences, in document order (empty when the passages have no sentence)."""
        glossary = [gloss for gloss in glosses(passages) if gloss.asked_by(question)]
        sentences = _candidates(passages, asks_for_code(question), glossary)
        statements = [i for i, s in enumerate(sentences) if s.kind == "text"]
        if not statements:
            return []
        wanted, content = set(terms(question)), question_terms(question)
        language = detect_language(question)
        lexical = _hand_on_echoes(sentences, _scores(sentences, wanted, content), wanted)
        texts = [sentences[i].text for i in statements]
        similarity = self._similarity(question, texts) if self._uses_similarity(language, texts) else None
        scores = {i: _combine(lexical[i], similarity, rank, sentences[i], question)
                  for rank, i in enumerate(statements)}
        chosen = self._choose(scores, sentences, language, _passage_languages(sentences))
        best = max(scores.values()) or 1.0
        middle = float(np.median(similarity)) if similarity is not None else 0.0
        picks = []
        for i in chosen:
            cosine = similarity[statements.index(i)] if similarity is not None else None
            picks.append(Pick(sentences[i].passage, sentences[i].text, scores[i] / best,
                              bool(sentences[i].terms & content), cosine, None if cosine is None else cosine - middle))
        return picks

    def _choose(self, scores: dict[int, float], sentences: list[_Sentence], language: Language,
                passage_languages: dict[int, Language]) -> list[int]:
        """Top sentences within `min_relative_score` of the best, the question's language first: sentences in
        it from passages written in it (an English line inside a Chinese article is mostly a caption, a
        reference or a term, not the article's answer)."""
        best = max(scores.values())
        if best <= 0:  # nothing overlaps: the top passage's first statement is the safest thing to say
            return [min(scores, key=lambda i: (sentences[i].passage, i))]
        near = [i for i in scores if scores[i] >= self.min_relative_score * best]
        same = [i for i in near if sentence_language(sentences[i].text) == language
                and passage_languages[sentences[i].passage] == language]
        pool = same if same and max(scores[i] for i in same) >= SAME_LANGUAGE_SHARE * best else near
        order = sorted(pool, key=lambda i: (-scores[i], sentences[i].passage, i))
        return sorted(order[: self.max_sentences])

    def _uses_similarity(self, language: Language, texts: list[str]) -> bool:
        if self.encoder is None or not texts:
            return False
        return self.similarity == "always" or cross_lingual(language, texts)

    def _similarity(self, question: str, texts: list[str]) -> list[float]:
        """Cosine of the question (embedded as a query: e5's "query: " prompt) and each sentence."""
        query = np.asarray(_embed(self.encoder, [question], "query"), dtype=np.float32)[0]
        vectors = np.asarray(_embed(self.encoder, texts, "passage"), dtype=np.float32)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        return np.clip(vectors @ query, 0.0, 1.0).tolist()  # type: ignore[no-any-return]


def cross_lingual(language: Language, sentences: list[str]) -> bool:
    """Most of `sentences` are in another language than `language` (the question's)."""
    other = sum(sentence_language(text) != language for text in sentences)
    return 2 * other > len(sentences)


def _embed(encoder: Any, texts: list[str], role: str) -> Any:
    """Texts embedded in `role` by an ingest Embedder; an encoder without roles embeds them all alike."""
    if "role" in inspect.signature(encoder.embed).parameters:
        return encoder.embed(texts, role=role)
    return encoder.embed(texts)


def _passage_languages(sentences: list[_Sentence]) -> dict[int, Language]:
    """Each passage's language, judged on its statements (its code and headings say little about it)."""
    texts: dict[int, list[str]] = {}
    for s in sentences:
        texts.setdefault(s.passage, [])
        if s.kind == "text":
            texts[s.passage].append(s.text)
    return {n: detect_language(" ".join(parts)) for n, parts in texts.items()}


def _candidates(passages: list[str], want_code: bool, glossary: list[Gloss]) -> list[_Sentence]:
    """Each passage's sentences with their terms, plus the terms they carry through the question's glosses."""
    out: list[_Sentence] = []
    for n, passage in enumerate(passages, start=1):
        for i, (text, kind) in enumerate(candidate_sentences(passage, want_code)):
            found = frozenset(terms(text))
            if kind == "text" and len(found) < MIN_TERMS:
                kind = "fragment"
            carried = frozenset(terms("\n".join(bridge(text, glossary)))) if glossary else frozenset()
            out.append(_Sentence(n, i, text, found | carried, max(1, len(found)), kind))
    return out


def _combine(lexical: float, similarity: list[float] | None, rank: int, sentence: _Sentence, question: str) -> float:
    """Lexical score (IDF overlap, carried from cues), plus the encoder's similarity and the answer-shape bonus."""
    score = lexical
    if similarity is not None:
        score = lexical + SIMILARITY_WEIGHT * similarity[rank]
    if has_answer_shape(sentence.text, question_type(question), question):
        score *= 1.0 + SHAPE_BONUS
    return score


def _scores(sentences: list[_Sentence], wanted: set[str], content: set[str]) -> list[float]:
    """IDF overlap with the question's terms (`wanted`), for sentences sharing one of its `content` terms (its
    terms without question words): "T5是什么" shares only 是什/什么 with "Dropout 是什么方法？" and scores 0, while
    "LoRA是什么" still cues the answer to "LoRA 的核心思想是什么？"."""
    statements = [s for s in sentences if s.kind in ("text", "heading")]
    df = Counter(term for s in statements for term in s.terms)
    n = max(1, len(statements))
    idf = {term: math.log(1 + n / count) for term, count in df.items()}
    raw = [sum(idf.get(t, 0.0) for t in s.terms & wanted) / math.sqrt(s.length) if s.terms & content else 0.0
           for s in sentences]
    scores = list(raw)
    carried, decay, passage = 0.0, 1.0, 0
    for i, s in enumerate(sentences):
        if s.passage != passage:
            carried, passage = 0.0, s.passage
        if s.kind == "heading" or s.text.endswith(_QUESTION_END):  # what follows a cue answers it
            carried, decay, scores[i] = raw[i], 0.9, 0.0
            continue
        if s.kind != "text":
            scores[i] = 0.0
            continue
        scores[i] = max(raw[i], carried * decay)
        decay *= 0.85
    return scores


def _hand_on_echoes(sentences: list[_Sentence], scores: list[float], wanted: set[str]) -> list[float]:
    """A sentence that says the question back ("此战奠定了...的霸权。" for "为什么此战奠定了...的霸权？") answers
    nothing itself; its neighbours in the passage, where the cause or the detail is, take over its score."""
    out = list(scores)
    echoes = [i for i, s in enumerate(sentences) if s.kind == "text" and _echoes(s, wanted)]
    for i in echoes:
        for j in (i - 1, i + 1):
            if 0 <= j < len(sentences) and j not in echoes and _same_passage_text(sentences[i], sentences[j]):
                out[j] = max(out[j], ECHO_SHARE * scores[i])
        out[i] = 0.0
    return out


def _echoes(sentence: _Sentence, wanted: set[str]) -> bool:
    return bool(wanted) and len(sentence.terms - wanted) < ECHO_NEW_TERMS


def _same_passage_text(a: _Sentence, b: _Sentence) -> bool:
    return a.passage == b.passage and b.kind == "text"


def render(chosen: list[Pick]) -> str:
    """The sentences in order, each run from one passage followed by its citation `[n]`."""
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
    """The answer in word-sized pieces (one per Chinese character), at most `max_tokens` estimated tokens: a
    Chinese sentence has no spaces, and as one piece a long one used to exceed the budget and leave nothing."""
    used = 0
    for piece in _PIECE.findall(text):
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
