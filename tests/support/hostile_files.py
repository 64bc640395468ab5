"""Hostile files for the hostile-input tests, generated small on disk: a zip-bomb .docx, a 10,000-page PDF,
deeply nested HTML, a sparse 1 GB single-line text."""

from __future__ import annotations

import zipfile
from pathlib import Path

MiB = 2**20


def bomb_docx(path: Path, inflated_mib: int) -> Path:
    """A real .docx (python-docx opens its skeleton) whose document.xml inflates to `inflated_mib` of zeros."""
    import docx

    skeleton = path.with_suffix(".skeleton.docx")
    docx.Document().save(str(skeleton))
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * MiB
            for _ in range(inflated_mib):
                member.write(block)
    skeleton.unlink()
    return path


def many_pages_pdf(path: Path, pages: int = 10_000) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=72, height=72)
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def nested_html(path: Path, depth: int = 100_000) -> Path:
    path.write_text("<html><body>" + "<div>" * depth + "deep text" + "</div>" * depth + "</body></html>")
    return path


def sparse_single_line(path: Path, size: int = 2**30) -> Path:
    """A `size`-byte file of one line: a hole (NUL bytes) that takes no disk space, then one letter."""
    with path.open("wb") as handle:
        handle.truncate(size - 1)
        handle.seek(size - 1)
        handle.write(b"x")
    return path
