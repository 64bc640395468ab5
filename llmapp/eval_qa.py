"""Answer quality on SQuAD-format data (SQuAD, CMRC 2018, DRCD): exact match, F1, citation hit rate, no-answer rate.

Normalisation follows the official scripts: English answers are lowercased, stripped of punctuation and of
"a/an/the", and compared word by word; Chinese answers are stripped of punctuation and spaces and compared
character by character (CMRC 2018's F1), with any Latin words inside kept whole. A citation hits when a passage
the answer cites contains one of the reference answers. The no-answer rate is the share of questions the chain
declined because nothing relevant was retrieved.
"""

from __future__ import annotations

import json
import logging
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmapp.chains.answer import Answer
from llmapp.errors import ConfigError
from llmapp.language import detect_language
from llmcommon.cjk import has_ideographs, terms

log = logging.getLogger(__name__)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]
    context: str


@dataclass(frozen=True)
class Scored:
    item: QAItem
    answer: Answer
    exact_match: float
    f1: float
    citation_hit: bool


def read_squad(path: Path, limit: int | None = None) -> list[QAItem]:
    """Questions with at least one reference answer, in file order (the first `limit` of them). A question
    whose text is empty (CMRC 2018's trial set has two) cannot be asked: it is skipped with a warning naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not SQuAD JSON (data[].paragraphs[].qas[]): {exc}") from exc
    items: list[QAItem] = []
    for article in data:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a.get("text")))
                if answers and not str(qa.get("question", "")).strip():
                    log.warning("%s: question %s has no text; skipped", path, qa.get("id"))
                elif answers:
                    items.append(QAItem(str(qa["id"]), qa["question"], answers, paragraph["context"]))
                if limit is not None and len(items) >= limit:
                    return items
    return items


def answer_tokens(text: str) -> list[str]:
    """Words for English, characters (and whole Latin words) for Chinese, after normalisation."""
    text = unicodedata.normalize("NFKC", text).lower()
    if has_ideographs(text):
        return terms(text)
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return _ARTICLES.sub(" ", text).split()


def exact_match(prediction: str, references: Iterable[str]) -> float:
    predicted = answer_tokens(prediction)
    return float(any(predicted == answer_tokens(ref) for ref in references))


def f1(prediction: str, references: Iterable[str]) -> float:
    return max((_f1(answer_tokens(prediction), answer_tokens(ref)) for ref in references), default=0.0)


def _f1(predicted: list[str], reference: list[str]) -> float:
    common = sum((Counter(predicted) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def citation_hit(answer: Answer, references: Iterable[str]) -> bool:
    refs = [_squash(r) for r in references]
    return any(ref and ref in _squash(cite.text) for cite in answer.citations for ref in refs)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _clean(text: str) -> str:
    """The answer without its citation markers, which are not part of the answer span."""
    return re.sub(r"\s*\[\d+\]", "", text).strip()


def score(item: QAItem, answer: Answer) -> Scored:
    prediction = _clean(answer.text) if answer.answered else ""
    return Scored(item, answer, exact_match(prediction, item.answers), f1(prediction, item.answers),
                  citation_hit(answer, item.answers))


def summarise(scored: list[Scored]) -> dict[str, Any]:
    """{"n", "exact_match", "f1", "citation_hit_rate", "no_answer_rate"} (rates in [0, 1])."""
    n = len(scored)
    if n == 0:
        raise ConfigError("no questions with reference answers to evaluate")
    return {
        "n": n,
        "exact_match": sum(s.exact_match for s in scored) / n,
        "f1": sum(s.f1 for s in scored) / n,
        "citation_hit_rate": sum(s.citation_hit for s in scored) / n,
        "no_answer_rate": sum(not s.answer.answered for s in scored) / n,
    }


def languages(items: list[QAItem]) -> dict[str, int]:
    return dict(Counter(detect_language(item.question) for item in items))
