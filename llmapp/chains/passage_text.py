"""Passage text made safe to quote in a prompt: it is data, so it must not look like the prompt's structure.

A document can carry `[3]` (a forged citation: the extractive generator copies sentences verbatim and the
citation check would accept any in-range number), or `</passage>` and a `Question:` line to break out of its
quotation. Citation markers become `(3)`, and the passage delimiter cannot be closed from inside.
"""

from __future__ import annotations

import re

# [3], [1, 2], [^3], ［3］, 【3】: what a citation marker looks like to the checker and to a model
_MARKER = re.compile(r"[\[［【]\s*\^?\s*(\d{1,3}(?:\s*[,，、;-]\s*\d{1,3})*)\s*[\]］】]")
_DELIMITER = re.compile(r"<\s*(/?)\s*passage", re.IGNORECASE)


def neutralise(text: str) -> str:
    """`text` with citation markers turned into parentheses and passage delimiters defused."""
    text = _MARKER.sub(lambda m: f"({m.group(1)})", text)
    return _DELIMITER.sub(lambda m: f"‹{m.group(1)}passage", text)
