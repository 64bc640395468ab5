"""What counts as Chinese (CJK) text, defined once for language detection, BM25, chunking and metrics.

`IDEOGRAPHS` is the widest correct range of CJK ideographs: Extension A (U+3400-4DBF), the Unified Ideographs
(U+4E00-9FFF), the Compatibility Ideographs (U+F900-FAFF) and Extensions B-H in the supplementary planes
(U+20000-3134F). It deliberately leaves out U+4DC0-4DFF (the Yijing hexagram symbols, not ideographs), which
the older shortcut U+3400-9FFF took in. `PUNCTUATION` is CJK symbols and punctuation plus the full-width forms.
"""

from __future__ import annotations

import re

IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
PUNCTUATION = "\u3000-\u303f\uff00-\uffef"

IDEOGRAPH = re.compile(f"[{IDEOGRAPHS}]")
IDEOGRAPH_RUN = re.compile(f"[{IDEOGRAPHS}]+")
IDEOGRAPH_OR_PUNCTUATION = re.compile(f"[{IDEOGRAPHS}{PUNCTUATION}]")
# A term: one ideograph, or a run of other word characters (letters of any script, digits; not "_").
_TERM = re.compile(f"[{IDEOGRAPHS}]|[^\\W_{IDEOGRAPHS}]+")


def is_ideograph(char: str) -> bool:
    return bool(IDEOGRAPH.fullmatch(char))


def has_ideographs(text: str) -> bool:
    return IDEOGRAPH.search(text) is not None


def count_ideographs(text: str) -> int:
    return len(IDEOGRAPH.findall(text))


def terms(text: str) -> list[str]:
    """Lower-cased terms of mixed Chinese/English text: each ideograph alone, other words whole.

    The segmenter-free split used to compare texts (ROUGE-L, token F1): one CJK character is one term.
    """
    return _TERM.findall(text.lower())
