"""HTML (.html, .htm): readable text without page chrome; h1-h6 give Sections, <title> the title."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions, LoadResult, read_bytes
from ingest.loaders.encoding import decode_text
from ingest.loaders.headings import Heading, heading_sections
from ingest.loaders.text import whole_file_document

if TYPE_CHECKING:
    from bs4 import Tag

NOISE = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "head")
HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = frozenset(
    ("address", "article", "blockquote", "caption", "dd", "details", "div", "dl", "dt", "fieldset",
     "figcaption", "figure", "hr", "li", "main", "ol", "p", "section", "summary", "table", "tbody",
     "thead", "tfoot", "tr", "td", "th", "ul")
)
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BREAK = "\x00"  # stands for <br> while whitespace is collapsed


@dataclass
class _Blocks:
    """Paragraphs in reading order; a paragraph is the inline text between two block boundaries."""

    texts: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)  # heading level, 0 for a paragraph
    inline: list[str] = field(default_factory=list)

    def flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self.inline)).strip()
        text = re.sub(f" *{_BREAK} *", "\n", text).strip()
        self.inline.clear()
        self.add(text, 0)

    def add(self, text: str, level: int) -> None:
        if text.strip():
            self.texts.append(text)
            self.levels.append(level)


def _walk(node: Tag, blocks: _Blocks) -> None:
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    for child in node.children:
        if isinstance(child, PreformattedString):  # comments, doctypes, CDATA
            continue
        if isinstance(child, NavigableString):
            blocks.inline.append(str(child))
        elif isinstance(child, Tag):
            name = child.name.lower()
            if name == "br":
                blocks.inline.append(_BREAK)
            elif name == "pre":  # kept verbatim: code and poetry depend on their spacing
                blocks.flush()
                blocks.add(child.get_text().strip("\n"), 0)
            elif name in HEADINGS:
                blocks.flush()
                blocks.add(_SPACE.sub(" ", child.get_text(" ")).strip(), HEADINGS[name])
            elif name in BLOCKS:
                blocks.flush()
                _walk(child, blocks)
                blocks.flush()
            else:
                _walk(child, blocks)


class HtmlLoader:
    extensions = (".html", ".htm")

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(decode_text(read_bytes(path, options), path), "lxml")
        title = _SPACE.sub(" ", soup.title.get_text()).strip() if soup.title else ""
        for tag in soup.find_all(list(NOISE)):
            if not tag.decomposed:  # a <script> inside a <nav> went with the <nav>
                tag.decompose()
        blocks = _Blocks()
        _walk(soup.body or soup, blocks)
        blocks.flush()
        if not blocks.texts:
            raise LoadError(str(path), "no readable text in this HTML page (only markup and scripts)")
        text, headings = _join(blocks)
        sections = heading_sections(headings, len(text))
        return LoadResult([whole_file_document(path, text, "html", title, sections)])


def _join(blocks: _Blocks) -> tuple[str, list[Heading]]:
    """Paragraphs separated by blank lines, with the offsets of the heading paragraphs."""
    headings: list[Heading] = []
    offset = 0
    for text, level in zip(blocks.texts, blocks.levels, strict=True):
        if level:
            headings.append(Heading(offset, level, text))
        offset += len(text) + 2
    return "\n\n".join(blocks.texts), headings
