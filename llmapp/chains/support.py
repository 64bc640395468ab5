"""Does a passage support an answer sentence? The check every shown sentence must pass.

Three signals, each cheap and each catching a different way a small generator goes wrong:

- **lexical**: the share of the sentence's content terms (English words without function words, Chinese
  character bigrams) found in the passage, taken clause by clause (between commas and semicolons) and the
  weakest clause counting: a sentence stitched from the passage scores near 1, one about another topic near
  0, and one that copies a clause and invents the next ("...来模拟教师模型的行为，以便使用自动驾驶的方式进行
  精神训练。") as low as its invented clause.
- **required**: every number and every name (a Latin word with a capital inside it or a digit: "LoRA",
  "GPT-3", "Szegedy" not at the start of the sentence) must appear in the passage. Changed figures and
  invented names are the facts a reader trusts most and a 135M model gets wrong most often.
- **semantic**: cosine similarity of sentence and passage by an encoder (the knowledge base's embedder, or
  the multilingual one), which carries a paraphrase or a translation that shares few terms.

    support = max(lexical, (1 - SEMANTIC_WEIGHT) * lexical + SEMANTIC_WEIGHT * semantic)   (with an encoder)
    support = lexical                                                                     (without one)

The encoder can lift a paraphrase over the line, never pull a copied sentence under it: the knowledge base's
default embedder (MiniLM) scores a Chinese sentence against the Chinese passage it was copied from at about 0.2.
    supported <=> nothing required is missing and support >= threshold

The weights and thresholds come from bench/support_check.py on bench/data/support_labels.jsonl (SmolLM2's
real answer sentences, labelled by reading); docs/grounding.md has the figures.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from llmapp.generate.extractive import terms
from llmapp.language import detect_language, split_sentences

# Calibrated on bench/data/support_labels.jsonl (see docs/grounding.md).
LEXICAL_THRESHOLD = 0.5
SEMANTIC_WEIGHT = 0.5
SEMANTIC_THRESHOLD = 0.5  # the same line: the encoder only adds to what the words already show
# A sentence needs this many content terms to state anything checkable ("是的。", "Yes." state nothing).
MIN_TERMS = 2

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9+#.\-]*[A-Za-z0-9+#]|[A-Za-z]")
_MARKER = re.compile(r"\s?\[\d+\]")
_CLAUSE = re.compile(r"[,，;；:：]\s*|\s+(?:but|which|so|because|while|although)\s+")


class SupportsEmbed(Protocol):
    """An `ingest.embed.Embedder` or anything else that embeds texts as rows of a matrix."""

    def embed(self, texts: Sequence[str]) -> Any: ...


@dataclass(frozen=True)
class Support:
    """How well passage `n` supports one sentence."""

    n: int
    score: float  # 0..1, the combined support
    lexical: float
    semantic: float | None  # None without an encoder
    missing: tuple[str, ...]  # numbers and names of the sentence the passage lacks

    def to_dict(self) -> dict[str, Any]:
        semantic = round(self.semantic, 4) if self.semantic is not None else None
        return {"passage": self.n, "support": round(self.score, 4), "lexical": round(self.lexical, 4),
                "semantic": semantic, "missing": list(self.missing)}


@dataclass
class SupportCheck:
    encoder: SupportsEmbed | None = None
    threshold: float | None = None  # default: LEXICAL_THRESHOLD, or SEMANTIC_THRESHOLD with an encoder
    semantic_weight: float = SEMANTIC_WEIGHT

    @property
    def cutoff(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return SEMANTIC_THRESHOLD if self.encoder is not None else LEXICAL_THRESHOLD

    def supported(self, support: Support) -> bool:
        return not support.missing and support.score >= self.cutoff

    def judge(self, sentences: Sequence[str], passages: Sequence[str],
              subjects: Sequence[str] = ()) -> list[list[Support]]:
        """For each sentence, its support by each passage (passage numbers 1..len(passages)). `subjects`: the
        question's names (`subject_names`); one that a sentence mentions must be in the window that backs it."""
        similarity = self._similarity(sentences, passages)
        return [
            [self._support(sentence, passage, n, similarity[i][n - 1] if similarity is not None else None,
                           mentioned(subjects, sentence))
             for n, passage in enumerate(passages, start=1)]
            for i, sentence in enumerate(sentences)
        ]

    def _support(self, sentence: str, passage: str, n: int, semantic: float | None,
                 subjects: Sequence[str] = ()) -> Support:
        lexical, missing = local_support(sentence, passage, subjects)
        weight = self.semantic_weight
        blended = lexical if semantic is None else (1 - weight) * lexical + weight * semantic
        score = max(lexical, blended)
        return Support(n, score, lexical, semantic, missing)

    def _similarity(self, sentences: Sequence[str], passages: Sequence[str]) -> list[list[float]] | None:
        if self.encoder is None or not sentences or not passages:
            return None
        vectors = np.asarray(self.encoder.embed([strip_markers(s) for s in sentences] + list(passages)))
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        cosine = vectors[: len(sentences)] @ vectors[len(sentences) :].T
        return np.clip(cosine, 0.0, 1.0).tolist()  # type: ignore[no-any-return]


def strip_markers(sentence: str) -> str:
    return _MARKER.sub("", sentence).strip()


def content_terms(sentence: str) -> set[str]:
    return set(terms(_normal(strip_markers(sentence))))


def subject_names(question: str) -> list[str]:
    """The names a question asks about ("Caffe" in "Who developed Caffe?" and in "Caffe 是由谁开发的？"): Latin
    words that `required_facts` takes for names, and in a Chinese question every Latin word of two letters or
    more (there a Latin word is a name or a term wherever it stands)."""
    text = _normal(question)
    if detect_language(text) == "zh":
        return list(dict.fromkeys(w for w in _LATIN.findall(_NUMBER.sub(" ", text)) if len(w) >= 2))
    return [fact for fact in dict.fromkeys(required_facts(text)) if not fact[:1].isdigit()]


def mentioned(subjects: Sequence[str], sentence: str) -> tuple[str, ...]:
    squashed = _squash(sentence)
    return tuple(name for name in subjects if _squash(name) in squashed)


def local_support(sentence: str, passage: str, subjects: Sequence[str] = ()) -> tuple[float, tuple[str, ...]]:
    """(lexical support, missing facts) by the best window of the passage: one of its sentences or two in a row.

    Judged against the whole passage, a sentence that pins a true year from one sentence onto a claim from
    another ("佩内塔在2015年的美网上跻身单打世界排名前十" over a passage saying 2010 for the top ten and 2015 for
    something else) passed, and SmolLM2 writes such sentences often. The best window is the one missing the
    fewest facts, then the one with the highest lexical support. Two sentences in a row, because a restatement
    takes its subject from the sentence before ("她..." after "佩内塔..."); facts of two adjacent sentences can
    still be mixed (single sentences only cut the labelled supported sentences kept from 64% to 53%).

    `subjects` (names of the question that the sentence mentions) count as facts the window must hold too:
    "Caffe is a product of Facebook's AI Research (FAIR) team." passed on "Detectron2是Facebook AI
    Research(FAIR)开发的……", a window of a passage that names Caffe only elsewhere ("Caffe由伯克利……开发")."""
    best: tuple[float, tuple[str, ...]] | None = None
    for window in passage_windows(passage):
        squashed = _squash(window)
        absent = tuple(name for name in subjects if _squash(name) not in squashed)
        candidate = (lexical_support(sentence, window), tuple(dict.fromkeys(missing_facts(sentence, window) + absent)))
        if best is None or (len(candidate[1]), -candidate[0]) < (len(best[1]), -best[0]):
            best = candidate
    return best if best is not None else (0.0, tuple(dict.fromkeys([*required_facts(sentence), *subjects])))


def passage_windows(passage: str) -> list[str]:
    """The passage's sentences and each pair of adjacent ones (the passage itself when it has one sentence)."""
    sentences = split_sentences(passage)
    if len(sentences) <= 1:
        return [passage]
    return sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]


def lexical_support(sentence: str, passage: str) -> float:
    """The lowest share, over the sentence's clauses, of content terms that occur in the passage (0 for a
    sentence without content). Clauses too short to check on their own are merged into the next one."""
    if len(content_terms(sentence)) < MIN_TERMS:
        return 0.0
    found = set(terms(_normal(passage)))
    return min(len(clause & found) / len(clause) for clause in clauses(sentence))


def clauses(sentence: str) -> list[set[str]]:
    """Content terms per clause; a clause with fewer than MIN_TERMS terms joins the one after it."""
    out: list[set[str]] = []
    pending: set[str] = set()
    for part in _CLAUSE.split(strip_markers(sentence)):
        pending |= content_terms(part)
        if len(pending) >= MIN_TERMS:
            out.append(pending)
            pending = set()
    if pending:
        if out:
            out[-1] |= pending
        else:
            out.append(pending)
    return out


def missing_facts(sentence: str, passage: str) -> tuple[str, ...]:
    """Numbers and names in the sentence that the passage does not contain."""
    names, numbers = _squash(passage), _number_text(passage)
    return tuple(fact for fact in dict.fromkeys(required_facts(sentence))
                 if not (_has_number(numbers, fact) if fact[:1].isdigit() else _squash(fact) in names))


def _has_number(text: str, number: str) -> bool:
    """A number must appear whole: "175" is not in "1750", and "1" of "M1 40" is not the start of "140"."""
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text) is not None


def _number_text(text: str) -> str:
    """The passage with thousands separators dropped ("1,750" -> "1750") but spaces kept between numbers."""
    return re.sub(r"(?<=\d),(?=\d)", "", _normal(text))


def required_facts(sentence: str) -> list[str]:
    text = _normal(strip_markers(sentence))
    numbers = [n.replace(",", "") for n in _NUMBER.findall(text)]
    words = _LATIN.findall(_NUMBER.sub(" ", text))
    names = [w for i, w in enumerate(words) if _is_name(w, first=i == 0 and text.startswith(w))]
    return numbers + names


def _is_name(word: str, first: bool) -> bool:
    """"LoRA", "GPT", "ResNet", "Szegedy" (not sentence-initial); not "The", "a" or "model"."""
    if len(word) < 2:
        return False
    inner_capital = any(ch.isupper() for ch in word[1:])
    return inner_capital or (word[0].isupper() and not first)


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _squash(text: str) -> str:
    return re.sub(r"[\s,]+", "", _normal(text)).lower()
