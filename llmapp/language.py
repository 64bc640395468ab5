"""Which language a question is in (Chinese or English) and sentence splitting for both.

The choice drives which prompt template is used and which "nothing relevant found" message is shown, so it
must be cheap and deterministic: a text whose letters are at least 20% CJK ideographs (`llmcommon.cjk`) counts as
Chinese
(a Chinese question with a product name such as "llmapp 支持哪些格式" is still Chinese).
"""

from __future__ import annotations

import re
from typing import Literal

from llmcommon.cjk import IDEOGRAPH_OR_PUNCTUATION, count_ideographs, has_ideographs

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")

_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_ZH_SHARE = 0.2
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")

# A sentence ends at Chinese terminal punctuation (with any closing quotes), at ! ? followed by a space,
# at a "." followed by a space and no lowercase letter (so "e.g. this" and "3.5" are not boundaries),
# or at a blank line.
_BOUNDARY = re.compile(
    r"(?<=[。！？])[”’」』）)]*\s*"
    r"|(?<=[!?])[\"')\]]*\s+"
    r"|(?<=[.!?])[\"')\]]*\s+(?=[^a-z\s])"
    r"|\n\s*\n"
)


def detect_language(text: str) -> Language:
    """"zh" when CJK ideographs make up at least 20% of the letters, else "en"."""
    cjk = count_ideographs(text)
    if cjk == 0:
        return "en"
    latin_words = len(re.findall(r"[A-Za-z\u00c0-\u024f]+", text))
    # A Latin word carries about as much as one or two ideographs; compare like with like.
    return "zh" if cjk / (cjk + 2 * latin_words) >= _ZH_SHARE else "en"


def split_sentences(text: str) -> list[str]:
    """Sentences of Chinese or English (or mixed) text, stripped, empty ones dropped, in order.

    A Markdown heading line ("## Setup") is a sentence of its own.
    """
    sentences: list[str] = []
    for block in _blocks(text):
        start = 0
        pieces = []
        for match in _BOUNDARY.finditer(block):
            pieces.append(block[start : match.end()])
            start = match.end()
        pieces.append(block[start:])
        sentences.extend(_tidy(piece) for piece in pieces if piece.strip())
    return sentences


def _blocks(text: str) -> list[str]:
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if _HEADING.match(line):
            blocks.extend(["\n".join(current), line])
            current = []
        else:
            current.append(line)
    blocks.append("\n".join(current))
    return [block for block in blocks if block.strip()]


def _tidy(piece: str) -> str:
    return _join_cjk_lines(piece) if has_ideographs(piece) else " ".join(piece.split())


def is_heading(sentence: str) -> bool:
    return bool(_HEADING.match(sentence))


def _join_cjk_lines(piece: str) -> str:
    """Chinese text wrapped over lines: join the lines without a space, keep single spaces elsewhere."""
    lines = [line.strip() for line in piece.splitlines() if line.strip()]
    joined = lines[0] if lines else ""
    for line in lines[1:]:
        glue = "" if IDEOGRAPH_OR_PUNCTUATION.match(line[:1]) or IDEOGRAPH_OR_PUNCTUATION.match(joined[-1:]) else " "
        joined += glue + line
    return " ".join(joined.split(" ")).strip()


def has_letters(text: str) -> bool:
    return bool(has_ideographs(text) or _LETTER.search(text))
