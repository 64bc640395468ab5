"""What flows through ingestion: a Document (one logical text from a file or a row) and its Chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    """A character span of a Document that shares metadata: a PDF page, a Markdown/HTML heading."""

    start: int
    end: int  # exclusive
    metadata: dict[str, Any]


@dataclass
class Document:
    """One logical text. A plain file gives one; a .csv/.tsv/.jsonl file gives one per row.

    `source` is the file the text came from (absolute path); `doc_id` is unique within that source:
    the source itself for whole files, the row's id field for tables (a BEIR `_id`).
    `sections` are sorted, non-overlapping spans carrying page numbers and heading paths.
    """

    source: str
    doc_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class Chunk:
    """A piece of a Document small enough for the embedder's window.

    `text == document.text[start:end]`; `n_tokens` counts the embedder's tokens (no special tokens);
    `metadata` carries the section metadata in force at `start` (page, heading).
    """

    text: str
    start: int
    end: int
    ordinal: int
    n_tokens: int
    metadata: dict[str, Any] = field(default_factory=dict)
