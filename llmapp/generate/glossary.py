"""Term glosses in technical Chinese text, to bridge a question in one language and passages in the other.

Chinese technical writing names a term in both languages where it introduces it: "权重剪枝(Weight Pruning)",
"LoRA模型,全称为Low-Rank Adaptation(低秩自适应)". An English question ("What is weight pruning?") shares no word
with the sentence that answers it ("权重剪枝是一种通过删除网络中不重要的权重……"), only with the sentence that
glosses the term ("常见的剪枝方法包括权重剪枝(Weight Pruning)……"), which is rarely the answer. With the glosses
read from the retrieved passages themselves, a sentence that contains one side of a gloss the question asks
about counts as containing the other side too (`bridge`): the answer then competes on equal terms. Nothing is
translated that the passages do not say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# 中文术语(English Term[, abbreviation]) and English Term(中文术语); both kinds of parentheses.
_ZH_THEN_EN = re.compile(r"([\u3400-\u9fff]{2,24})\s*[(（]\s*([A-Za-z][A-Za-z0-9 '\-]{1,60}?)\s*"
                         r"(?:[,，;；/][^)）]{0,40})?[)）]")
_EN_THEN_ZH = re.compile(r"([A-Za-z][A-Za-z0-9'\-]*(?: [A-Za-z0-9][A-Za-z0-9'\-]*){0,5})\s*"
                         r"[(（]\s*([\u3400-\u9fff]{2,12})\s*[)）]")
# Words that lead into a term rather than belong to it: "全称为", "包括", "又称".
_LEAD_INS = frozenset(("称为", "全称", "简称", "又称", "叫做", "包括", "例如", "比如", "如", "即", "一种", "以及"))
# A Chinese term runs to about two characters per English word ("Weight Pruning" -> "权重剪枝").
_CHARS_PER_WORD = 2


@dataclass(frozen=True)
class Gloss:
    chinese: str
    english: str  # lowercased, single spaces

    def asked_by(self, question: str) -> bool:
        """The question names the term in either language."""
        return self.chinese in question or _contains_phrase(question.lower(), self.english)


def glosses(texts: Iterable[str]) -> list[Gloss]:
    """Every term gloss in `texts`, once each, in order of appearance."""
    found: dict[Gloss, None] = {}
    for text in texts:
        for run, english in _ZH_THEN_EN.findall(text):
            phrase = _phrase(english)
            if len(phrase.split()) < 2:  # "网络(LSTM)": where an abbreviation's term starts is anyone's guess
                continue
            chinese = _term_ending(run, len(phrase.split()))
            if chinese:
                found.setdefault(Gloss(chinese, phrase), None)
        for english, chinese in _EN_THEN_ZH.findall(text):
            phrase = _phrase(english)
            if phrase:
                found.setdefault(Gloss(chinese, phrase), None)
    return list(found)


def bridge(text: str, glossary: Iterable[Gloss]) -> list[str]:
    """What `text` says through the glossary in the other language: the English phrase of each gloss whose Chinese
    term it contains, and the Chinese term of each gloss whose English phrase it contains."""
    lowered = text.lower()
    out: list[str] = []
    for gloss in glossary:
        if gloss.chinese in text:
            out.append(gloss.english)
        if _contains_phrase(lowered, gloss.english):
            out.append(gloss.chinese)
    return out


def _phrase(english: str) -> str:
    return " ".join(english.lower().split())


def _contains_phrase(lowered: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", lowered) is not None


def _term_ending(run: str, words: int) -> str:
    """The term at the end of a run of Chinese characters: its last jieba words, about two characters per
    English word of the gloss, stopping at a lead-in ("全称为") or a one-character particle ("的")."""
    from ingest.lexical import segment

    budget = _CHARS_PER_WORD * max(words, 1) + 1
    kept: list[str] = []
    for word in reversed(segment(run)):
        if word in _LEAD_INS or (len(word) == 1 and kept) or sum(map(len, kept)) + len(word) > budget:
            break
        kept.insert(0, word)
    term = "".join(kept)
    return term if len(term) >= 2 else ""
