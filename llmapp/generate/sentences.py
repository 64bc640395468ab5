"""Candidate answer sentences of a passage, and what kind of answer a question asks for.

A passage is read line by line first: a short line without closing punctuation is a heading ("LoRA是什么",
"## Setup", "2. 核心概念与联系"), never an answer but a cue that the lines under it answer it; a line that looks
like code (`def f(x):`, `x = torch.randn(1, 3)`) is code; page furniture and ads ("1,152次阅读", "扫码领取",
"Subscribe now") are boilerplate. The remaining lines are split into sentences; a sentence with fewer than
`MIN_TERMS` content terms is a fragment, one ending in a colon is a lead-in (a cue, like a heading), and a
bibliography entry ("arXiv preprint arXiv:1408.5882") is boilerplate. Chinese lines are never glued to a
heading above them, which is how "LoRA是什么LoRA模型,全称为..." used to become one "sentence".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from llmapp.language import Language, detect_language, is_heading, split_sentences

Kind = Literal["text", "heading", "code", "boilerplate", "fragment"]
QuestionType = Literal["number", "time", "person", "definition", "reason", "code", "other"]

MIN_TERMS = 2  # "No.", "1." and "缺点:" are fragments; "English and Chinese." is an answer
_HEADING_CHARS = 32  # a line this short (characters) without closing punctuation is a heading
_CLOSING = tuple("。！？；：.!?;:,，、）)”\"'")
_CODE = re.compile(
    r"^\s*(def |class |import |from \S+ import |return\b|print\(|for .+ in .+:$|while .+:$|if .+:$|elif |else:"
    r"|try:$|except\b.*:$|with .+:$|@\w+)"
    r"|^\s*[\w.\[\]]+\s*[+\-*/]?=\s*[\w.\[\]'\"(]"
    r"|^\s*[})\]]+[;,]?\s*$|;\s*$|^\s*(#|//)\s*\w"
    r"|^\s*[\w.\[\]]+(\s*,\s*[\w.\[\]()]+)+\s*=\s*\S"  # inputs, labels = batch
    r"|^[^\u3400-\u9fff]*[\w)\]]\.\w+\(.*\)\s*[;,]?$"  # loss.backward(), super(RNN, self).__init__()
    # a keyword argument on a line with no sentence end in it: model, {nn.Linear}, dtype=torch.qint8
    r"|^(?!.*[.。!?！？](\s|$))[^\u3400-\u9fff]*\b[a-z_]\w*=[\w.'\"\[({-]"
    # the tail of a wrapped expression, a power: ") * (temperature ** 2)" (not Markdown bold: "the **key** part")
    r"|^\s*[)\]}]\s*[-+*/%<>=&|^]|^[^\u3400-\u9fff]*[A-Za-z0-9_)](?: \*\* |\*\*)[A-Za-z0-9_(]"
)
_BOILERPLATE = re.compile(
    r"\d[\d,]*\s*次(阅读|浏览|播放)|没有评论|阅读原文|扫码|二维码|关注(我们|公众号)|点赞|收藏|转发|免费领取|领取|"
    r"版权所有|copyright|all rights reserved|subscribe|sign up|click here|cookie|advertisement|上一篇|下一篇|"
    r"学习资料|资料包|加群|微信|私信|购买链接|购买地址|下载地址|原文链接",
    re.IGNORECASE,
)
# Longest line or sentence still read as page furniture ("扫码领取资料", "1,152次阅读 · 没有评论") or as one
# bibliography entry ("Vaswani, A., Shazeer, N., ... (2017). Attention is all you need. arXiv preprint ...").
_FURNITURE_CHARS = 40
_REFERENCE_CHARS = 400
_URL = re.compile(r"https?://\S+|www\.\S+")
_WORDS_BESIDE_URL = 8  # characters of text a line needs besides its links to say anything ("链接:https://…")
_CUE_ENDS = (":", "：", "?", "？")  # a sentence ending so introduces its answer
_ENDS_BLOCK = ("。", "！", "？", "；", ":", "：")  # a line ending so does not run on into the next
_INNER_PUNCT = re.compile(r"[，、；]|[,;](?!\d)")  # "ReLU是一种激活函数,其输出为" runs on; "1,152" is not a pause
_LIST_MARK = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.、)]|[（(]\d{1,2}[)）])\s*")
# Asking for code: "function" or "example" alone do not ("What range does the Sigmoid function map to?").
_CODE_WORDS = re.compile(r"代码|怎么写|写一个|code\b|snippet|implement|in python|in pytorch|write a", re.IGNORECASE)
# A bibliography entry: "arXiv preprint arXiv:1408.5882", "(2015). Deep Learning. Nature, 521(7553), 436-444".
# An author list: "Graves, A., & Mohamed, A.".
_REFERENCE = re.compile(r"(?i:arxiv:\s*\d|\bpreprint\b|\bdoi\s*:)|\(\d{4}[a-z]?\)\.|\b\d+\(\d+\)\s*[,:]\s*\d+"
                        r"|\b[A-Z][a-z]+,\s[A-Z]\.(?:,?\s*(?:&|and)?\s*[A-Z][a-z]+,\s[A-Z]\.)+")
_YES_NO = re.compile(r"^(?i:(do|does|did|is|are|was|were|can|could|should|will|would|has|have|had|may|must)\b)"
                     r"|是否|能否|可否|是不是|有没有|能不能|会不会|可不可以|吗[?？]?$")
_TYPE_CUES: tuple[tuple[QuestionType, re.Pattern[str]], ...] = (
    ("time", re.compile(r"哪一?年|什么时候|何时|哪天|when\b|what year|which year", re.IGNORECASE)),
    ("number", re.compile(r"多少|几个|几种|多大|多长|how (many|much|long|large|big)", re.IGNORECASE)),
    ("person", re.compile(r"谁|哪家|哪个(公司|机构|团队)|who\b|which (company|team|organi[sz]ation)", re.IGNORECASE)),
    ("reason", re.compile(r"为什么|为何|原因|why\b", re.IGNORECASE)),
    ("definition", re.compile(r"是什么|什么是|指什么|含义|核心思想|what (is|are|does)\b|define", re.IGNORECASE)),
)
_ANSWER_SHAPES: dict[QuestionType, re.Pattern[str]] = {
    "time": re.compile(r"(1[89]|20)\d\d\s*年?|\b(19|20)\d\d\b"),
    "number": re.compile(r"\d+(?:[.,]\d+)*"),
    "person": re.compile(r"[A-Z][a-z]+|公司|大学|团队|研究|中心|实验室|百度|谷歌|微软|伯克利|Google|Facebook|OpenAI"),
    "reason": re.compile(r"因为|由于|为了|从而|所以|旨在|because|so that|in order to|to avoid", re.IGNORECASE),
    "definition": re.compile(r"是|指|称为|一种|is an?\b|are\b|refers to|means", re.IGNORECASE),
    "code": re.compile(r"."),
}


@dataclass(frozen=True)
class Line:
    text: str
    kind: Kind


def classify_line(line: str) -> Kind:
    stripped = line.strip()
    if _only_links(stripped) or _furniture(stripped):
        return "boilerplate"
    if _CODE.search(stripped):
        return "code"
    body = _LIST_MARK.sub("", stripped)
    short = len(body) <= _HEADING_CHARS and not body.endswith(_CLOSING) and not _INNER_PUNCT.search(body)
    if is_heading(stripped) or short:
        return "heading"
    return "text"


def _furniture(text: str) -> bool:
    """Page furniture or a bibliography entry, judged on a short line or sentence only: a paragraph that says
    "他统统收藏起来" or cites "(2001)." once is still a paragraph (whole CMRC and SciFact paragraphs used to be
    thrown out as boilerplate for one such word)."""
    if len(text) <= _REFERENCE_CHARS and _REFERENCE.search(text):  # the length first: a search costs more
        return True
    return len(text) <= _FURNITURE_CHARS and bool(_BOILERPLATE.search(text))


def _only_links(line: str) -> bool:
    """A link with a label at most: "购买链接:https://item.jd.com/14281522.html"."""
    if not _URL.search(line):
        return False
    return len(re.sub(r"[\W_]+", "", _URL.sub("", line))) <= _WORDS_BESIDE_URL


def noise_share(passage: str) -> float:
    """The share of a passage's characters in lines of code, bibliography or page furniture (0..1)."""
    lines = passage_lines(passage)
    total = sum(len(line.text) for line in lines)
    noise = sum(len(line.text) for line in lines if line.kind in ("code", "boilerplate"))
    return noise / total if total else 0.0


def passage_lines(passage: str) -> list[Line]:
    """Non-empty lines with their kind; consecutive text lines joined into one block (a wrapped paragraph)."""
    lines: list[Line] = []
    for raw in passage.splitlines():
        if not raw.strip():
            continue
        kind = classify_line(raw)
        if kind == "text" and lines and lines[-1].kind == "text" and not lines[-1].text.endswith(_ENDS_BLOCK):
            lines[-1] = Line(lines[-1].text + "\n" + raw.strip(), "text")
        else:
            lines.append(Line(raw.strip(), kind))
    return lines


def candidate_sentences(passage: str, want_code: bool = False) -> list[tuple[str, Kind]]:
    """The passage's sentences in order, each with its kind: text sentences, and headings kept as cues."""
    out: list[tuple[str, Kind]] = []
    for line in passage_lines(passage):
        if line.kind == "text":
            texts = [_LIST_MARK.sub("", s) for s in split_sentences(line.text)]
            out.extend((text, sentence_kind(text)) for text in texts)
        elif line.kind == "code" and want_code:
            out.append((line.text, "text"))
        else:
            out.append((line.text, line.kind))
    return out


def sentence_kind(sentence: str) -> Kind:
    """A sentence of a text line: a lead-in ending in a colon ("GNNs (Graph Neural Networks):", "常见方法有：") or a
    question in the passage is a cue for what follows, like a heading; a bibliography entry is not an answer."""
    if sentence.rstrip().endswith(_CUE_ENDS):
        return "heading"
    return "boilerplate" if _furniture(sentence) else "text"


def question_type(question: str) -> QuestionType:
    if asks_for_code(question):
        return "code"
    for kind, cue in _TYPE_CUES:
        if cue.search(question):
            return kind
    return "other"


def asks_for_code(question: str) -> bool:
    return bool(_CODE_WORDS.search(question))


def asks_yes_no(question: str) -> bool:
    """"Does llmapp need a GPU?", "是否支持PDF？", "能离线运行吗？": answered by a statement that need not repeat
    the question's words ("No, it runs on a CPU")."""
    return bool(_YES_NO.search(question.strip()))


# Kinds whose shape is a thing the answer names (a year, a number, a name): the question's own does not count.
_NAMED_SHAPES: frozenset[QuestionType] = frozenset(("time", "number", "person"))


def has_answer_shape(sentence: str, kind: QuestionType, question: str = "") -> bool:
    """The sentence has what a `kind` question asks for. For a year, a number or a name, one that is not in
    `question` itself: every sentence about Caffe has the capitalised word "Caffe", and only the one naming
    伯克利 says who developed it."""
    shape = _ANSWER_SHAPES.get(kind)
    if shape is None:
        return False
    if kind not in _NAMED_SHAPES or not question:
        return bool(shape.search(sentence))
    asked = question.lower()
    return any(match.group().lower() not in asked for match in shape.finditer(sentence))


def sentence_language(sentence: str) -> Language:
    return detect_language(sentence)
