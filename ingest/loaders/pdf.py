"""PDF (.pdf, pypdf): one Section per page with {"page": N}, pages joined by blank lines. No OCR."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.documents import Section
from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions, LoadResult, read_bytes
from ingest.loaders.limits import check_chars
from ingest.loaders.text import whole_file_document

if TYPE_CHECKING:
    from pypdf import PdfReader

logger = logging.getLogger(__name__)


def _open(path: Path, data: bytes, options: LoadOptions) -> PdfReader:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # "" opens owner-password-only PDFs
            raise LoadError(
                str(path),
                "encrypted PDF that needs a password; save a decrypted copy first "
                "(e.g. qpdf --decrypt --password=PASSWORD in.pdf out.pdf)",
            )
        pages = len(reader.pages)  # parses the page tree: a corrupt one fails here, not mid-way
        if pages > options.max_pages:
            raise LoadError(str(path), f"{pages:,} pages, over max_pages={options.max_pages:,}; split the PDF "
                                       "or raise the limit")
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files; all mean the same to the user
        raise LoadError(str(path), f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    return reader


def _page_texts(path: Path, reader: PdfReader, options: LoadOptions) -> tuple[list[str], list[LoadError]]:
    texts: list[str] = []
    errors: list[LoadError] = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # one damaged page should not lose the others
            reason = f"page {number}: cannot extract text ({type(exc).__name__}: {exc})"
            errors.append(LoadError(str(path), reason))
            text = ""
        texts.append(text.replace("\r\n", "\n").replace("\r", "\n").strip())
        chars += len(texts[-1])
        check_chars(path, chars, options)  # stops at the page that crosses the limit, not after the last
    return texts, errors


class PdfLoader:
    extensions = (".pdf",)

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        reader = _open(path, read_bytes(path, options), options)
        texts, errors = _page_texts(path, reader, options)
        parts: list[str] = []
        sections: list[Section] = []
        offset = 0
        for number, text in enumerate(texts, start=1):
            if not text:
                continue
            start = offset + (2 if parts else 0)  # pages are joined by a blank line
            sections.append(Section(start, start + len(text), {"page": number}))
            parts.append(text)
            offset = start + len(text)
        if not parts:
            raise LoadError(
                str(path),
                f"no extractable text in {len(texts)} page(s): it looks scanned (images only) and OCR is not "
                "supported; run OCR first (e.g. ocrmypdf in.pdf out.pdf)",
            )
        title = _metadata_title(reader)
        return LoadResult([whole_file_document(path, "\n\n".join(parts), "pdf", title, sections)], errors)


def _metadata_title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a damaged info dictionary only costs the title
        logger.debug("unreadable PDF metadata", exc_info=True)
        return ""
    return str(title).strip() if title else ""
