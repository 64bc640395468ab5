"""Split a Document into Chunks that fit the embedder's window, counted in the embedder's own tokens.

The document is tokenised once; every decision after that works on the token offsets (char spans), so
chunking a 5 MB text costs little beyond the one tokenisation. Each chunk is then re-tokenised on its own to
check the budget exactly (a tokenizer may merge across a cut) and shrunk if needed.

Where a chunk may end, strongest boundary first:

    paragraph  blank line; a fenced code block (``` or ~~~) is one paragraph; a Section start or end
    sentence   after 。！？；… (and .!? followed by whitespace); a line break (the only one inside code)
    word       whitespace; either side of a CJK ideograph
    token      any token start (only when a single word is over budget)

Packing is greedy over the strongest units that fit: a unit (paragraph, then sentence, then word) is only
split when it does not fit in a chunk of its own; a chunk that is at least half full ends at the strongest
boundary available, and a chunk never ends after a heading or a short line alone (under max_tokens / 8 of new
content) when more text follows: the title joins the text under it. A new Section (page, heading) starts a
new chunk once the current one is non-trivial.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.documents import Chunk, Document, Section
from llmcommon.cjk import IDEOGRAPHS, PUNCTUATION

log = logging.getLogger(__name__)

TokenOffsets = Callable[[str], Sequence[tuple[int, int]]]
"""Char spans of the tokens of a text, special tokens excluded (a HF fast tokenizer's offset_mapping)."""

PARAGRAPH, SENTENCE, WORD = 0, 1, 2
_LEVEL_NAMES = ("paragraph", "sentence", "word")
_MAX_SHRINKS = 64  # verify-and-shrink rounds per chunk before giving up

_CJK_PUNCT = PUNCTUATION + "\u2026\u2014"  # and the ellipsis and em dash Chinese text uses
_CLOSERS = "\"')\\]”’」』）》〉"
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_SENTENCE_END = re.compile(
    rf"[。！？；…]+[{_CLOSERS}]*\s*"
    rf"|(?<!\be\.g)(?<!\bi\.e)[.!?]+[{_CLOSERS}]*\s+"
)
_LINE_BREAK = re.compile(r"\n\s*")
_WORD_GAP = re.compile(
    rf"\s+|(?<=[{IDEOGRAPHS}{_CJK_PUNCT}])(?=\S)|(?<=\S)(?=[{IDEOGRAPHS}])"
)
_CJK_EDGE = re.compile(rf"(?<=[{IDEOGRAPHS}{_CJK_PUNCT}])|(?=[{IDEOGRAPHS}])")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class ChunkOptions:
    """How big chunks are. `max_tokens` is the embedder window minus its special tokens."""

    max_tokens: int
    overlap_tokens: int = 32  # tokens of the previous chunk's end repeated at the start of the next

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.overlap_tokens < 0:
            raise ValueError(f"overlap_tokens must be >= 0, got {self.overlap_tokens}")
        if self.overlap_tokens and self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens={self.overlap_tokens} must be < max_tokens // 2 = {self.max_tokens // 2}:"
                " lower the overlap (0 disables it) or raise max_tokens"
            )


def chunk_document(doc: Document, offsets: TokenOffsets, options: ChunkOptions) -> list[Chunk]:
    """The chunks of `doc`, in order, each at most `options.max_tokens` tokens when re-tokenised alone."""
    if not doc.text.strip():
        return []
    return list(_Chunker(doc.text, offsets, options, doc.sections).run())


class _Chunker:
    """One pass over one document. Positions are char offsets into `text`; spans are half-open."""

    def __init__(
        self, text: str, offsets: TokenOffsets, options: ChunkOptions, sections: Sequence[Section]
    ) -> None:
        self.text = text
        self.offsets = offsets
        self.max_tokens = options.max_tokens
        self.overlap_tokens = options.overlap_tokens
        spans = sorted((int(s), int(e)) for s, e in offsets(text))
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.sections = sorted(sections, key=lambda s: s.start)
        self.section_starts = [s.start for s in self.sections]
        # a section edge inside a word (a loader's off-by-one) is not worth cutting the word for
        edges = {p for s in self.sections for p in (s.start, s.end)}
        self.section_cuts = sorted(p for p in edges if _between_words(text, p))
        self.fences = _fenced_blocks(text)
        self.fence_starts = [s for s, _ in self.fences]
        self.fence_cuts = sorted(p for f in self.fences for p in f)
        self.min_section_tokens = max(1, self.max_tokens // 16)
        self.min_chunk_tokens = max(1, self.max_tokens // 8)

    # -- token arithmetic on the document's offsets -------------------------------------------------------

    def count(self, lo: int, hi: int) -> int:
        """Tokens of the whole document that intersect text[lo:hi] (an upper bound on a re-tokenisation)."""
        return max(0, bisect_left(self.starts, hi) - bisect_right(self.ends, lo))

    def limit(self, lo: int, budget: int) -> int:
        """The furthest position `hi` such that text[lo:hi] holds at most `budget` tokens."""
        last = bisect_right(self.ends, lo) + budget
        return self.starts[last] if last < len(self.starts) else len(self.text)

    # -- boundary candidates in a window ------------------------------------------------------------------

    def in_fence(self, pos: int) -> bool:
        i = bisect_right(self.fence_starts, pos) - 1
        return i >= 0 and self.fences[i][0] < pos < self.fences[i][1]

    def candidates(self, level: int, lo: int, hi: int) -> list[int]:
        """Sorted positions in (lo, hi] where a chunk may end at `level` or stronger."""
        text, stop = self.text, min(len(self.text), hi + 1)  # one char past hi so lookaheads see it
        out: list[int]
        if level == WORD:
            out = [m.end() for m in _WORD_GAP.finditer(text, lo, stop)]
        else:
            out = [m.end() for m in _LINE_BREAK.finditer(text, lo, stop)] if level == SENTENCE else []
            pattern = _SENTENCE_END if level == SENTENCE else _BLANK_LINE
            out += [m.end() for m in pattern.finditer(text, lo, stop) if not self.in_fence(m.start())]
            for cuts in (self.fence_cuts, self.section_cuts):
                out += cuts[bisect_right(cuts, lo) : bisect_right(cuts, hi)]
        if hi == len(text):
            out.append(hi)
        return sorted({p for p in out if lo < p <= hi})

    def token_candidates(self, lo: int, hi: int) -> list[int]:
        inner = self.starts[bisect_right(self.starts, lo) : bisect_right(self.starts, hi)]
        return inner + ([hi] if hi == len(self.text) else [])

    # -- the chunk loop -----------------------------------------------------------------------------------

    def run(self) -> Iterator[Chunk]:
        text, prev_start, cur, ordinal, section_break = self.text, -1, self.skip_space(0), 0, False
        while cur < len(text):
            start = cur if section_break or ordinal == 0 else self.overlap_start(prev_start, cur)
            start, end, n_tokens, section_break = self.fit_chunk(start, cur)
            yield Chunk(text[start:end], start, end, ordinal, n_tokens, self.metadata_at(start))
            prev_start, cur, ordinal = start, self.skip_space(end), ordinal + 1

    def fit_chunk(self, start: int, cur: int) -> tuple[int, int, int, bool]:
        """(start, end, n_tokens, ended_at_section) of the chunk whose new content begins at `cur`.

        Verify-and-shrink: the chosen span is re-tokenised; when a tokenizer merges across a cut and the
        span comes out over budget, drop the overlap first, then lower the budget by the excess.
        """
        budget = self.max_tokens
        for _ in range(_MAX_SHRINKS):
            start = self.keep_first_unit_whole(start, cur, budget)
            end, section_break = self.choose_end(start, cur, budget)
            end = self.trim_end(cur, end)
            n_tokens = len(self.offsets(self.text[start:end]))
            if n_tokens <= self.max_tokens:
                return start, end, n_tokens, section_break
            log.debug("chunk %d:%d re-tokenises to %d > %d tokens; shrinking", start, end, n_tokens, budget)
            if start < cur:
                start = cur
            else:
                budget -= n_tokens - self.max_tokens
                if budget < 1:
                    break
        raise ValueError(
            f"cannot fit text[{cur}:{cur + 40}] = {self.text[cur:cur + 40]!r}"
            f" into max_tokens={self.max_tokens}:"
            " the tokenizer yields more tokens for its shortest cut than the budget; raise max_tokens"
        )

    def choose_end(self, start: int, cur: int, budget: int) -> tuple[int, bool]:
        """Where the chunk starting at `start` (new content from `cur`) ends; True when at a section cut."""
        hi = self.limit(start, budget)
        cuts = self.section_cuts
        for cut in cuts[bisect_right(cuts, cur) : bisect_right(cuts, hi)]:
            if self.count(cur, cut) >= self.min_section_tokens and self.text[cur:cut].strip():
                return cut, True
        if hi >= len(self.text):
            return len(self.text), False
        for level in (PARAGRAPH, SENTENCE, WORD):
            found = self.candidates(level, cur, hi)
            if found and self.good_end(level, start, cur, found[-1]):
                return found[-1], False
        words = self.candidates(WORD, cur, hi)
        if words:  # the next word alone is longer than what is left: end before it, never inside it
            return words[-1], False
        tokens = self.token_candidates(cur, hi)
        if not tokens:  # a tokenizer that repeats offsets (byte-level BPE) may leave no start in (cur, hi]
            return self.next_token_start(cur), False
        # an over-budget single word: cut at a token edge, beside punctuation ("3." | "14") if that fills half
        text = self.text
        soft = [p for p in tokens if not (text[p - 1].isalnum() and p < len(text) and text[p].isalnum())]
        if soft and 2 * self.count(start, soft[-1]) >= budget:
            return soft[-1], False
        return tokens[-1], False

    def good_end(self, level: int, start: int, cur: int, end: int) -> bool:
        """Stop at this level: the chunk is half full, or the next unit of this level fits a chunk alone. Never
        after a heading or a line alone (new content under `min_chunk_tokens`): a chunk holding only a title
        ("四川大学华西医院" before a paragraph that fills a chunk by itself) is a search hit with no answer in it,
        and the title belongs with the text under it."""
        if level == WORD:
            return True
        if self.count(cur, end) < self.min_chunk_tokens:
            return False
        if 2 * self.count(start, end) >= self.max_tokens:
            return True
        nxt = self.skip_space(end)
        return nxt >= len(self.text) or bool(self.candidates(level, nxt, self.limit(nxt, self.max_tokens)))

    def keep_first_unit_whole(self, start: int, cur: int, budget: int) -> int:
        """Shrink the overlap so that the first unit after `cur` that fits alone is not cut by it."""
        if start >= cur:
            return start
        solo, with_overlap = self.limit(cur, budget), self.limit(start, budget)
        for level in (PARAGRAPH, SENTENCE, WORD):
            first = next(iter(self.candidates(level, cur, solo)), None)
            if first is None:
                continue
            if first <= with_overlap:
                return start
            fits = [p for p in self.overlap_candidates(start, cur) if self.count(p, first) <= budget]
            return fits[0] if fits else cur
        return start

    def overlap_start(self, prev_start: int, cur: int) -> int:
        """Where the next chunk starts: up to `overlap_tokens` before `cur`, at a sentence or word start."""
        if self.overlap_tokens == 0:
            return cur
        first_token = max(0, bisect_left(self.starts, cur) - self.overlap_tokens)
        lo = max(prev_start + 1, self.starts[first_token] if self.starts else cur, self.section_start(cur))
        sentences = [p for p in self.candidates(SENTENCE, lo - 1, cur) if p < cur]
        if sentences and 2 * self.count(sentences[0], cur) >= self.overlap_tokens:
            return self.skip_space(sentences[0])
        words = self.overlap_candidates(lo, cur)
        return words[0] if words else cur

    def overlap_candidates(self, lo: int, cur: int) -> list[int]:
        """Word starts in [lo, cur): the places an overlap may begin."""
        return [p for p in self.candidates(WORD, lo - 1, cur) if p < cur and not self.text[p].isspace()]

    # -- small helpers ------------------------------------------------------------------------------------

    def skip_space(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos].isspace():
            pos += 1
        return pos

    def trim_end(self, cur: int, end: int) -> int:
        text = self.text
        while end > cur + 1 and text[end - 1].isspace():
            end -= 1
        return end

    def next_token_start(self, cur: int) -> int:
        i = bisect_right(self.starts, cur)
        return self.starts[i] if i < len(self.starts) else len(self.text)

    def section_start(self, pos: int) -> int:
        i = bisect_right(self.section_starts, pos) - 1
        return self.sections[i].start if i >= 0 and pos < self.sections[i].end else 0

    def metadata_at(self, pos: int) -> dict[str, Any]:
        i = bisect_right(self.section_starts, pos) - 1
        if i >= 0 and pos < self.sections[i].end:
            return dict(self.sections[i].metadata)
        return {}


def _fenced_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block, from its opening line to the end of its closing line.

    A fence closes with the same character repeated at least as often and nothing else on the line; an
    unclosed fence runs to the end of the text (as in CommonMark).
    """
    blocks: list[tuple[int, int]] = []
    opening: re.Match[str] | None = None
    for m in _FENCE.finditer(text):
        fence = m.group(1)
        if opening is None:
            if not (fence[0] == "`" and "`" in m.group(2)):
                opening = m
        elif _closes(opening.group(1), fence, m.group(2)):
            blocks.append((opening.start(), m.end()))
            opening = None
    if opening is not None:
        blocks.append((opening.start(), len(text)))
    return blocks


def _closes(opening: str, fence: str, rest: str) -> bool:
    return fence[0] == opening[0] and len(fence) >= len(opening) and not rest.strip()


def _between_words(text: str, pos: int) -> bool:
    if pos <= 0 or pos >= len(text) or text[pos - 1].isspace() or text[pos].isspace():
        return True
    return _CJK_EDGE.match(text, pos) is not None
