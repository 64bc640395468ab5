"""Markdown (.md, .markdown): the text is kept as written; ATX headings ("## Setup") give Sections."""

from __future__ import annotations

import re
from pathlib import Path

from ingest.loaders.base import LoadOptions, LoadResult, read_text
from ingest.loaders.headings import Heading, heading_sections
from ingest.loaders.text import whole_file_document

_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def markdown_headings(text: str) -> list[Heading]:
    """ATX headings outside ``` / ~~~ code fences, with their character offsets."""
    headings: list[Heading] = []
    fence = ""  # the opening fence while inside a code block
    offset = 0
    for line in text.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = ""
        elif opening:
            fence = opening.group(1)
        else:
            match = _HEADING.match(line)
            if match and (match.group(2) or "").strip():
                headings.append(Heading(offset, len(match.group(1)), match.group(2).strip()))
        offset += len(line) + 1
    return headings


class MarkdownLoader:
    extensions = (".md", ".markdown")

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        text = read_text(path, options)
        headings = markdown_headings(text)
        title = next((h.title for h in headings if h.level == 1), "")
        sections = heading_sections(headings, len(text))
        return LoadResult([whole_file_document(path, text, "markdown", title, sections)])
