"""Word (.docx, python-docx): paragraphs and tables in order; "Heading N" styles give Sections."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions, LoadResult, read_bytes
from ingest.loaders.headings import Heading, heading_sections
from ingest.loaders.limits import check_chars, check_zip
from ingest.loaders.text import whole_file_document

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.table import Table

_HEADING_STYLE = re.compile(r"Heading ([1-9])$")


def _open(path: Path, data: bytes, options: LoadOptions) -> WordDocument:
    import docx

    check_zip(path, data, options)  # python-docx inflates every member it reads, whole
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile, lxml and python-docx each raise their own types
        raise LoadError(str(path), f"corrupt or not a .docx file ({type(exc).__name__}: {exc})") from exc


def _table_lines(table: Table) -> str:
    """One line per row, cells separated by tabs; a merged cell is written once."""
    lines = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append("\t".join(cells))
    return "\n".join(lines)


def _blocks(document: WordDocument) -> tuple[list[str], list[int], str]:
    """Paragraph/table texts, their heading levels (0: body), and the first "Title"-styled paragraph."""
    from docx.text.paragraph import Paragraph

    texts: list[str] = []
    levels: list[int] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text, style = item.text.strip(), item.style.name if item.style is not None else ""
            match = _HEADING_STYLE.match(style or "")
            level = int(match.group(1)) if match else 0
            if style == "Title" and not title:
                title = text
        else:
            text, level = _table_lines(item), 0
        if text:
            texts.append(text)
            levels.append(level)
    return texts, levels, title


class DocxLoader:
    extensions = (".docx",)

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        texts, levels, title = _blocks(_open(path, read_bytes(path, options), options))
        check_chars(path, sum(len(text) for text in texts), options)
        if not texts:
            raise LoadError(str(path), "no text in this .docx (empty, or only images)")
        headings, offset = [], 0
        for text, level in zip(texts, levels, strict=True):
            if level:
                headings.append(Heading(offset, level, text))
            offset += len(text) + 2
        text = "\n\n".join(texts)
        sections = heading_sections(headings, len(text))
        return LoadResult([whole_file_document(path, text, "docx", title, sections)])
