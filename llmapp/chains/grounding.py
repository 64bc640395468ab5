"""Grounding by construction: every sentence shown carries a citation to a passage that supports it.

    draft (the generator's text) --split--> sentences --support check vs every passage-->
        cited passage supports it         -> kept, "cited"
        another passage supports it       -> kept, "reattributed" to that passage
        none does (or it states nothing)  -> dropped
    something kept that shares a term
    with the question                     -> grounding "generated" (the unfinished last sentence of a draft
                                             cut at the token limit is dropped first)
    else the extractive answer, checked,
    if it is related to the question      -> grounding "extractive" (its sentences are the passages' own)
    else something kept                   -> grounding "generated" (a cross-lingual answer shares no term)
    else                                  -> grounding "none": "not found in the knowledge base" and the
                                             closest passages

A sentence in another language than the question is shown with its source, never silently: an English
question answered from a Chinese passage reads "From a Chinese passage of FILE: ...".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llmapp.chains.citations import check_citations
from llmapp.chains.packing import Passage
from llmapp.chains.support import Support, SupportCheck, content_terms, strip_markers, subject_names
from llmapp.generate.extractive import ExtractiveGenerator, Pick
from llmapp.generate.sentences import asks_yes_no
from llmapp.language import Language, detect_language, is_heading, split_sentences

Grounding = Literal["generated", "extractive", "none"]
Status = Literal["cited", "reattributed", "dropped"]

# An extractive answer that shares no content term with the question (a cross-lingual one) counts as an answer
# rather than "not found" when the encoder puts it this much closer to the question than the median candidate
# sentence. Raw cosines cannot tell: e5-small gives any sentence 0.70-0.80 with any question. On the seed
# articles (docs/grounding.md) unrelated English questions ("What is the capital of France?") lifted their best
# sentence 0.005-0.043, and up to 0.059 once retrieval discounted code and references and showed more prose;
# "What is knowledge distillation?" lifts its Chinese definition 0.063-0.072.
MIN_SIMILARITY_LIFT = 0.065
# A sentence adding fewer content terms than this to the question's own restates it.
ECHO_NEW_TERMS = 2
# A sentence repeating terms of the question is about what was asked, so the passage backing it must hold at
# least this share of them: "蒂亚戈·蒙泰罗是一位德国F1赛车手" was backed word for word by a passage about
# another driver. Calibrated on SmolLM2's CMRC answers (bench/ground_drafts.py): wrong subjects kept 0.2-0.3
# of the asked terms, right ones 0.57 and more (a bigram such as "令是" spans the question's own wording).
TOPIC_SHARE = 0.5
_MARKER = re.compile(r"\[(\d+)\]")
_LEADING_MARKERS = re.compile(r"^(\s*\[\d+\])+")
_CLOSING = re.compile(r"[.!?。！？]+[\"'”’」』）)]*$")
_LANGUAGE_NAMES = {"en": {"en": "an English", "zh": "a Chinese"}, "zh": {"en": "英文", "zh": "中文"}}
_NOT_FOUND = {
    "en": "Not found in the knowledge base: no retrieved passage supports an answer. Closest passages: {closest}.",
    "zh": "知识库中没有找到答案：检索到的资料都不能支持一个回答。最接近的资料：{closest}。",
}


@dataclass(frozen=True)
class CheckedSentence:
    text: str  # without citation markers
    passage: int | None  # the passage it is shown with; None when dropped
    status: Status
    support: Support | None  # by `passage`, or by the best passage when dropped

    def to_dict(self) -> dict[str, Any]:
        detail = self.support.to_dict() if self.support else {"support": 0.0}
        return {"text": self.text, "status": self.status, **detail, "passage": self.passage}


@dataclass
class Grounded:
    text: str  # what is shown, with [n] after each run of sentences from passage n
    grounding: Grounding
    sentences: list[CheckedSentence] = field(default_factory=list)  # kept and dropped, in draft order

    @property
    def cited(self) -> list[int]:
        kept = [s.passage for s in self.sentences if s.passage is not None]
        return list(dict.fromkeys(n for n in kept if n is not None)) if self.grounding != "none" else []


@dataclass
class Grounder:
    check: SupportCheck = field(default_factory=SupportCheck)
    extractive: ExtractiveGenerator = field(default_factory=ExtractiveGenerator)

    def ground(self, question: str, draft: str, passages: list[Passage], extractive_draft: bool = False,
               cut_off: bool = False) -> Grounded:
        """The verified answer for `draft` over `passages` (numbered 1..n as the generator saw them). `cut_off`:
        the generator stopped at its token limit, so a last sentence without closing punctuation is unfinished
        and is dropped ("...受到外界强大能量的影")."""
        language = detect_language(question)
        checked = self.verify(draft, passages, question, verbatim=extractive_draft)
        if cut_off and checked and not extractive_draft and not _CLOSING.search(checked[-1].text):
            checked[-1] = replace(checked[-1], passage=None, status="dropped")
        kept = [s for s in checked if s.passage is not None]
        mode: Grounding = "extractive" if extractive_draft else "generated"
        if kept and (extractive_draft or answers_question(kept, question)):
            return Grounded(compose(kept, passages, language, inside=not extractive_draft), mode, checked)
        picks = [] if extractive_draft else self.extractive.select(question, [p.text for p in passages])
        # each pick checked as the sentence it is: rendered and split again, a pick without closing punctuation
        # (a code line taken for a sentence) ran into the next one and took it down with it
        sentences = [(strip_markers(p.text), [p.passage]) for p in picks]
        fallback = [s for s in self.check_sentences(sentences, passages, verbatim=True) if s.passage is not None]
        if fallback and self._relevant(picks):
            if kept:  # a supported draft about something else than was asked ("面积" answered with a date)
                checked = [replace(s, passage=None, status="dropped") for s in checked]
            return Grounded(compose(fallback, passages, language), "extractive", checked + fallback)
        if kept:
            return Grounded(compose(kept, passages, language, inside=True), mode, checked)
        return Grounded(not_found(passages, language), "none", checked)

    def verify(self, draft: str, passages: list[Passage], question: str = "",
               verbatim: bool = False) -> list[CheckedSentence]:
        """Each draft sentence checked; `verbatim`: the sentences are the passages' own (extractive), so the
        words decide and the encoder is not run (it could only add support)."""
        return self.check_sentences(draft_sentences(draft, len(passages)), passages, question, verbatim)

    def check_sentences(self, sentences: list[tuple[str, list[int]]], passages: list[Passage], question: str = "",
                        verbatim: bool = False) -> list[CheckedSentence]:
        """`verify` for sentences already split: (text without markers, the passage numbers it cites)."""
        sentences = [(text, cited) for text, cited in sentences if text]
        if not sentences or not passages:
            return []
        check = replace(self.check, encoder=None) if verbatim else self.check
        judged = check.judge([text for text, _ in sentences], [p.text for p in passages], subject_names(question))
        seen: set[str] = set()
        asked = content_terms(question)
        held = [content_terms(p.text) for p in passages]
        return [self._one(text, cited, [on_topic(s, text, asked, held[s.n - 1]) for s in supports], seen, asked)
                for (text, cited), supports in zip(sentences, judged, strict=True)]

    def _one(self, text: str, cited: list[int], supports: list[Support], seen: set[str],
             asked: set[str]) -> CheckedSentence:
        best = max(supports, key=lambda s: (self.check.supported(s), s.score))
        key = "".join(sorted(content_terms(text)))
        # A heading copied from a passage ("## 常见问题") is supported word for word and says nothing.
        if key in seen or not self.check.supported(best) or states_nothing(text, asked) or is_heading(text):
            return CheckedSentence(text, None, "dropped", best)
        seen.add(key)
        backing = [supports[n - 1] for n in cited if self.check.supported(supports[n - 1])]
        if backing:
            chosen = max(backing, key=_score)
            return CheckedSentence(text, chosen.n, "cited", chosen)
        return CheckedSentence(text, best.n, "reattributed", best)

    def _relevant(self, picks: list[Pick]) -> bool:
        return any(p.overlap or (p.lift or 0.0) >= MIN_SIMILARITY_LIFT for p in picks)


def on_topic(support: Support, sentence: str, asked: set[str], passage_terms: set[str]) -> Support:
    """`support` with the question's terms the sentence repeats but the passage lacks added to its missing facts,
    when the passage holds fewer than TOPIC_SHARE of them (the passage is about something else)."""
    shared = asked & content_terms(sentence)
    lacking = shared - passage_terms
    if not shared or len(shared) - len(lacking) >= TOPIC_SHARE * len(shared):
        return support
    return replace(support, missing=support.missing + tuple(sorted(lacking)))


def answers_question(kept: list[CheckedSentence], question: str) -> bool:
    """Some kept sentence shares a content term with the question, or the question has none to share, or it
    asks yes or no ("Does llmapp need a GPU?" is answered by "It runs on a CPU")."""
    asked = content_terms(question)
    return not asked or asks_yes_no(question) or any(asked & content_terms(s.text) for s in kept)


def states_nothing(sentence: str, asked: set[str]) -> bool:
    """A question ("What is LoRA?") or the question said back ("The ResNet 的设计初衷是解决什么问题") answers
    nothing, however well the passage matches its words."""
    if sentence.rstrip().endswith(("?", "？")):
        return True
    said = content_terms(sentence)
    return bool(said) and len(said - asked) < ECHO_NEW_TERMS


def _score(support: Support) -> float:
    return support.score


def draft_sentences(draft: str, passage_count: int) -> list[tuple[str, list[int]]]:
    """The draft's sentences without markers, each with the passage numbers it cites. A marker that opens a
    sentence ("... 方法。[1] 它...") belongs to the sentence before it."""
    text = check_citations(draft, passage_count).text
    out: list[tuple[str, list[int]]] = []
    for sentence in split_sentences(text):
        lead = _LEADING_MARKERS.match(sentence)
        if lead and out:
            out[-1][1].extend(int(n) for n in _MARKER.findall(lead.group(0)))
            sentence = sentence[lead.end():].strip()
        clean = strip_markers(sentence)
        if clean:
            out.append((clean, [int(n) for n in _MARKER.findall(sentence)]))
    return out


def compose(kept: list[CheckedSentence], passages: list[Passage], language: Language, inside: bool = False) -> str:
    """Kept sentences in order, `[n]` after each run from passage n (`inside`: before its closing punctuation,
    as generators write it); a run in another language than the question's names its source."""
    runs: list[tuple[int, list[str]]] = []
    for sentence in kept:
        assert sentence.passage is not None
        if runs and runs[-1][0] == sentence.passage:
            runs[-1][1].append(sentence.text)
        else:
            runs.append((sentence.passage, [sentence.text]))
    parts = [_run_text(n, texts, passages[n - 1].hit.source, language, inside) for n, texts in runs]
    return _join(parts)


def _run_text(n: int, texts: list[str], source: str, language: Language, inside: bool) -> str:
    body = _join(texts)
    closing = _CLOSING.search(body) if inside else None
    cited = f"{body[: closing.start()]} [{n}]{closing.group(0)}" if closing else f"{body} [{n}]"
    spoken = detect_language(body)
    if spoken == language:
        return cited
    name = _LANGUAGE_NAMES[language][spoken]
    if language == "zh":
        return f"（以下摘自 {source} 的{name}资料）{cited}"
    return f"From {name} passage of {source}: {cited}"


def _join(parts: list[str]) -> str:
    text = ""
    for part in parts:  # Chinese sentences follow each other without a space
        glue = "" if not text or re.match(r"[\u3400-\u9fff。！？；：”」）]", text[-1]) else " "
        text += glue + part
    return text


def not_found(passages: list[Passage], language: Language) -> str:
    closest = ", ".join(f"{p.hit.source} ({_snippet(p.text)})" for p in passages[:3]) or "-"
    return _NOT_FOUND[language].format(closest=closest)


def _snippet(text: str, size: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size] + "…"
