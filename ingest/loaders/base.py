"""The loader contract: options, result, the `Loader` protocol, and the file reading every loader shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ingest.documents import Document
from ingest.errors import LoadError
from ingest.loaders.encoding import decode_text

TEXT_FIELDS = ("text", "content", "body", "passage", "context")  # auto-detected text columns, in order
ID_FIELDS = ("_id", "id")  # auto-detected id columns, in order (BEIR uses "_id")


@dataclass(frozen=True)
class LoadOptions:
    """How to read a file. Every field is optional; the defaults suit prose files and BEIR corpora."""

    id_field: str | None = None  # csv/tsv/jsonl; auto: "_id", then "id"; else the 1-based row number
    title_field: str | None = None  # auto: "title" if present
    text_field: str | None = None  # auto: the first of TEXT_FIELDS present
    max_line_chars: int = 1_000_000  # a longer line in a text-like file is not prose: LoadError
    max_file_bytes: int = 512 * 2**20
    max_chars: int = 50_000_000  # characters of text one PDF or Word file may yield
    max_pages: int = 5_000  # pages of one PDF
    max_unzipped_bytes: int = 512 * 2**20  # a .docx's members, inflated, all together
    max_zip_members: int = 10_000
    max_zip_ratio: int = 200  # inflated bytes per compressed byte; Word files stay under about 30

    def __post_init__(self) -> None:
        if self.max_line_chars < 1:
            raise ValueError(f"max_line_chars must be >= 1, got {self.max_line_chars}")
        for name in ("max_file_bytes", "max_chars", "max_pages", "max_unzipped_bytes", "max_zip_members",
                     "max_zip_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class LoadResult:
    """The documents of one file, and the row-level problems that did not stop the other rows."""

    documents: list[Document]
    errors: list[LoadError] = field(default_factory=list)


@runtime_checkable
class Loader(Protocol):
    """One file format. Register an implementation under the `llmapp.loaders` entry-point group.

    `extensions` are lower-case with the dot (".md"). `load` raises LoadError when the whole file is
    unusable, and reports bad rows in `LoadResult.errors` while keeping the good ones.
    """

    extensions: tuple[str, ...]

    def load(self, path: Path, options: LoadOptions) -> LoadResult: ...


def read_bytes(path: Path, options: LoadOptions) -> bytes:
    """The file's bytes, refusing missing, unreadable, empty and oversized files with a LoadError."""
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:
            raise LoadError(
                str(path),
                f"file is {size:,} bytes, over the limit of {options.max_file_bytes:,} bytes; "
                "raise max_file_bytes if it really should be ingested",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(str(path), "no such file or directory") from None
    except PermissionError:
        raise LoadError(str(path), "permission denied: the file is not readable by this user") from None
    except IsADirectoryError:
        raise LoadError(str(path), "is a directory, not a file") from None
    except OSError as exc:
        raise LoadError(str(path), f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise LoadError(str(path), "empty file")
    return data


def read_text(path: Path, options: LoadOptions) -> str:
    """Decoded text with `\\n` newlines; refuses whitespace-only files and over-long lines."""
    text = decode_text(read_bytes(path, options), path)
    if not text.strip():
        raise LoadError(str(path), "empty file (whitespace only)")
    check_line_lengths(text, path, options.max_line_chars)
    return text


def check_line_lengths(text: str, path: Path, limit: int) -> None:
    """Raise LoadError at the first line longer than `limit` characters.

    Steps a window of `limit + 1` characters at a time and jumps to the last newline inside it, so a
    file of short lines costs about len(text) / limit string searches, not one per line.
    """
    pos = 0
    while len(text) - pos > limit:
        newline = text.rfind("\n", pos, pos + limit + 1)
        if newline < 0:
            end = text.find("\n", pos)
            length = (len(text) if end < 0 else end) - pos
            line = text.count("\n", 0, pos) + 1
            raise LoadError(
                str(path),
                f"line {line} is {length:,} characters long, over max_line_chars={limit:,}; this does not "
                "look like prose (minified data?). If it is, raise max_line_chars",
                line=line,
            )
        pos = newline + 1
