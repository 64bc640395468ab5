"""Plain text (.txt): the whole file is one Document."""

from __future__ import annotations

from pathlib import Path

from ingest.documents import Document, Section
from ingest.loaders.base import LoadOptions, LoadResult, read_text


def whole_file_document(
    path: Path, text: str, fmt: str, title: str = "", sections: list[Section] | None = None
) -> Document:
    """A Document for a whole-file format: doc_id and source are both the absolute path."""
    source = str(path)
    return Document(source, source, text, title, {"format": fmt}, sections or [])


class TextLoader:
    extensions = (".txt",)

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        return LoadResult([whole_file_document(path, read_text(path, options), "txt")])
