"""Pseudo-queries: questions a knowledge base's chunks answer, made without labels and without a network.

For a chunk with at least two usable sentences, one sentence (picked with a seeded random generator) is cut out
as the query and the rest of the chunk is its positive passage: the sentence is about what the rest says, in the
chunk's own language, and the model cannot match it word for word. A first chunk whose document has a real title
gets the title as its query. A chunk with a single sentence gets a keyphrase query: its rarest words (by
document frequency over the sample), in text order. `generated_queries` asks a configured generator instead.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmapp.language import Language, detect_language, split_sentences

Kind = Literal["sentence", "title", "keyphrase", "generated", "user"]
# usable query lengths: words for English, characters for Chinese
_LIMITS: dict[Language, tuple[int, int]] = {"en": (4, 40), "zh": (6, 80)}
_KEYWORDS = 6
_WORD = re.compile(r"\w+", re.UNICODE)
# terms of a question template that say nothing about a passage (a generated question needs one other term)
_TEMPLATE_WORDS = frozenset({"these", "those", "there", "about", "answer", "question", "passage", "text",
                             "following", "main", "topic",
                             "purpose", "study", "studies", "finding", "findings", "result", "results", "paper",
                             "article", "research", "significance",
                             "问题", "答案", "段落", "文章", "内容", "主要", "这段"})
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    """A chunk to make a query for: its id, text, the document it belongs to (source, doc id) and title."""

    chunk_id: int
    text: str
    document: tuple[str, str]
    title: str
    ordinal: int
    tokens: tuple[str, ...] = ()  # the chunk's BM25 tokens (jieba words for Chinese)


@dataclass(frozen=True)
class PseudoQuery:
    """A query, the passage it should find (the positive used for training) and where that passage lives."""

    text: str
    positive: str
    chunk_id: int
    document: tuple[str, str]
    kind: Kind


def _length(text: str, language: Language) -> int:
    return len(text) if language == "zh" else len(text.split())


def _usable(sentence: str, language: Language) -> bool:
    low, high = _LIMITS[language]
    return low <= _length(sentence, language) <= high and sum(ch.isalpha() for ch in sentence) >= low


def _join(sentences: Sequence[str], language: Language) -> str:
    return ("" if language == "zh" else " ").join(sentences)


def sentence_query(passage: Passage, rng: random.Random) -> PseudoQuery | None:
    """One sentence cut from the chunk as the query, the rest as the positive; None under two sentences."""
    language = detect_language(passage.text)
    sentences = split_sentences(passage.text)
    usable = [i for i, s in enumerate(sentences) if _usable(s, language)]
    if len(sentences) < 2 or not usable:
        return None
    cut = rng.choice(usable)
    rest = _join([s for i, s in enumerate(sentences) if i != cut], language)
    if _length(rest, language) < _LIMITS[language][0]:
        return None
    return PseudoQuery(sentences[cut], rest, passage.chunk_id, passage.document, "sentence")


def title_query(passage: Passage) -> PseudoQuery | None:
    """The document's title for its first chunk, when it reads like a title rather than a file name."""
    title = passage.title.strip()
    language = detect_language(title or passage.text)
    if passage.ordinal != 0 or not title or "/" in title or re.search(r"\.\w{2,4}$", title):
        return None
    if not _usable(title, language) or title in passage.text[: len(title) + 8]:
        return None  # a title repeated at the chunk's start is a free lexical match, not a question
    return PseudoQuery(title, passage.text, passage.chunk_id, passage.document, "title")


def keyphrase_query(passage: Passage, document_frequency: Counter[str], seen: int) -> PseudoQuery | None:
    """The chunk's rarest words (fewest chunks of the sample contain them), in the order of the text."""
    words = [w for w in (passage.tokens or tuple(_WORD.findall(passage.text.lower()))) if len(w.strip()) > 1]
    unique = list(dict.fromkeys(words))
    if len(unique) < 3:
        return None
    rare = set(sorted(unique, key=lambda w: (document_frequency[w] / max(seen, 1), unique.index(w)))[:_KEYWORDS])
    language = detect_language(passage.text)
    return PseudoQuery(_join([w for w in unique if w in rare], language), passage.text, passage.chunk_id,
                       passage.document, "keyphrase")


def pseudo_queries(passages: Sequence[Passage], seed: int = 13) -> list[PseudoQuery]:
    """At most one query per passage: title, else a cut sentence, else a keyphrase (see the module doc)."""
    rng = random.Random(seed)
    frequency: Counter[str] = Counter()
    for passage in passages:
        frequency.update(set(passage.tokens or _WORD.findall(passage.text.lower())))
    out: list[PseudoQuery] = []
    for passage in passages:
        query = (title_query(passage) or sentence_query(passage, rng)
                 or keyphrase_query(passage, frequency, len(passages)))
        if query is not None:
            out.append(query)
    return out


Ask = Callable[[str], str]


def generated_queries(passages: Sequence[Passage], ask: Ask) -> list[PseudoQuery]:
    """A question per passage written by a generator (`ask(passage text) -> question`). Empty replies, replies
    longer than the passage, and replies that name nothing of their passage are skipped, with a warning that
    counts them: the shipped SmolLM2-135M answers most SciFact abstracts with "What is the answer to this
    question?", which would train the embedder to match any passage to it."""
    out: list[PseudoQuery] = []
    unrelated: list[str] = []
    for passage in passages:
        question = " ".join(ask(passage.text).strip().splitlines()[:1]).strip().strip('"“”')
        if not question or len(question) >= len(passage.text):
            continue
        if not names_passage(question, passage):
            unrelated.append(question)
            continue
        out.append(PseudoQuery(question, passage.text, passage.chunk_id, passage.document, "generated"))
    if unrelated:
        log.warning("%d of %d generated questions name nothing of their passage and were skipped (for example %r); "
                    "a larger generator (--generator MODEL.gguf or --base-url) writes better ones",
                    len(unrelated), len(passages), unrelated[0])
    return out


def names_passage(question: str, passage: Passage) -> bool:
    """Whether the question shares a content term with the passage (the extractive answerer's terms: English words
    but stopwords, Chinese character bigrams), question words and question boilerplate aside."""
    from llmapp.generate.extractive import question_terms, terms

    return bool((question_terms(question) - _TEMPLATE_WORDS) & set(terms(passage.text)))


def generator_ask(generator: Any, prompts: Any, max_tokens: int = 48) -> Ask:
    """`ask` over a llmapp generator with the `tune_query` prompt in the passage's language."""
    def ask(text: str) -> str:
        template = prompts.for_text("tune_query", text)
        return str(generator.generate(template.render(text=text), max_tokens=max_tokens, temperature=0.0))

    return ask


def sample_passages(snapshot: Any, limit: int, seed: int = 13) -> list[Passage]:
    """Up to `limit` chunks of the knowledge base, a seeded random sample, with their BM25 tokens."""
    ids = [int(i) for i in snapshot.chunk_ids()]
    picked = ids if len(ids) <= limit else sorted(random.Random(seed).sample(ids, limit))
    records = snapshot.chunks(picked)
    token_ids, token_lists = snapshot.tokens()
    tokens = {int(cid): tuple(words) for cid, words in zip(token_ids, token_lists, strict=True)}
    return [Passage(cid, r.text, (r.source, r.doc_id), r.title, r.ordinal, tokens.get(cid, ()))
            for cid, r in ((cid, records[cid]) for cid in picked if cid in records)]
