"""Citation markers in generated text: `[1]`, `[1, 3]`, `[1][2]`, `【2】`.

Only numbers of passages that were actually given to the generator survive: other numbers are removed from
their marker, and a marker left empty is removed with the space before it. Full-width brackets become `[n]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER = re.compile(r"\s?[\[【]\s*(\d{1,3}(?:\s*[,，、;]\s*\d{1,3})*)\s*[\]】]")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class CheckedText:
    text: str
    cited: list[int]  # valid passage numbers, in order of first use
    dropped: list[int]  # numbers that pointed at no passage


def check_citations(text: str, passage_count: int) -> CheckedText:
    """`text` with markers limited to 1..passage_count, and which numbers it cites."""
    cited: list[int] = []
    dropped: list[int] = []

    def rewrite(match: re.Match[str]) -> str:
        numbers = [int(n) for n in _NUMBER.findall(match.group(1))]
        valid = [n for n in numbers if 1 <= n <= passage_count]
        dropped.extend(n for n in numbers if n not in valid)
        cited.extend(n for n in valid if n not in cited)
        if not valid:
            return ""
        lead = " " if match.group(0)[0].isspace() else ""
        return lead + "".join(f"[{n}]" for n in dict.fromkeys(valid))

    return CheckedText(_MARKER.sub(rewrite, text).strip(), cited, dropped)


def attribute(text: str, passages: list[str], min_share: float = 0.6) -> list[int]:
    """Passages that support an answer which cites none: those containing at least `min_share` of the
    answer's terms (English words, Chinese bigrams), best first. Small models often answer from a passage
    without writing its number; this finds it back, and finds nothing for an answer made up from elsewhere."""
    from llmapp.generate.extractive import terms

    wanted = set(terms(text))
    if not wanted:
        return []
    shares = [(len(wanted & set(terms(passage))) / len(wanted), n) for n, passage in enumerate(passages, 1)]
    return [n for share, n in sorted(shares, key=lambda s: (-s[0], s[1])) if share >= min_share]
