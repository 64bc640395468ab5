"""Field rules shared by the row formats (.csv, .tsv, .jsonl): which field is the id, title and text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.documents import Document
from ingest.errors import LoadError
from ingest.loaders.base import ID_FIELDS, TEXT_FIELDS, LoadOptions


@dataclass(frozen=True)
class RowFields:
    text: str
    id: str | None  # None: the 1-based row number is the id
    title: str | None


def resolve_fields(columns: Sequence[str], options: LoadOptions, path: Path) -> RowFields:
    """Pick the fields from the options, or detect them; a missing text field fails the whole file."""
    listed = ", ".join(repr(c) for c in columns) or "(none)"
    for flag, name in (("text_field", options.text_field), ("id_field", options.id_field),
                       ("title_field", options.title_field)):
        if name is not None and name not in columns:
            raise LoadError(str(path), f"{flag}={name!r} is not a column; the columns are {listed}")
    text = options.text_field or next((c for c in TEXT_FIELDS if c in columns), None)
    if text is None:
        raise LoadError(
            str(path),
            f"no text column: the columns are {listed} and none is one of {', '.join(TEXT_FIELDS)}; "
            "set text_field (--text-field) to the column that holds the text",
        )
    row_id = options.id_field or next((c for c in ID_FIELDS if c in columns), None)
    title = options.title_field or ("title" if "title" in columns else None)
    return RowFields(text=text, id=row_id, title=title)


@dataclass
class RowReader:
    """Turns records into Documents: one per row, ids unique within the file."""

    path: Path
    fields: RowFields
    seen: dict[str, int] = field(default_factory=dict)  # doc_id -> line where it was first seen

    def document(self, record: Mapping[str, Any], row_number: int, line: int) -> Document:
        """The row's Document; a LoadError for this row (with its line) when it cannot be one."""
        body = _string(record.get(self.fields.text), self.fields.text, self.path, line)
        if not body.strip():
            raise LoadError(str(self.path), f"empty text field {self.fields.text!r}", line=line)
        title = ""
        if self.fields.title:
            title = _string(record.get(self.fields.title), self.fields.title, self.path, line)
        doc_id = self._doc_id(record, row_number, line)
        metadata = _metadata(record, {self.fields.text, self.fields.id, self.fields.title})
        text = f"{title.strip()}\n\n{body}" if title.strip() else body
        return Document(str(self.path), doc_id, text, title.strip(), metadata)

    def _doc_id(self, record: Mapping[str, Any], row_number: int, line: int) -> str:
        if self.fields.id is None:
            doc_id = str(row_number)
        else:
            doc_id = _string(record.get(self.fields.id), self.fields.id, self.path, line).strip()
            if not doc_id:
                raise LoadError(str(self.path), f"empty id field {self.fields.id!r}", line=line)
        if doc_id in self.seen:
            reason = f"duplicate id {doc_id!r} (first on line {self.seen[doc_id]})"
            raise LoadError(str(self.path), reason, line=line)
        self.seen[doc_id] = line
        return doc_id


def _string(value: Any, name: str | None, path: Path, line: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LoadError(str(path), f"field {name!r} is a {type(value).__name__}, expected text", line=line)
    return str(value)


def _metadata(record: Mapping[str, Any], used: set[str | None]) -> dict[str, Any]:
    """The other fields; a nested "metadata" object (BEIR) is merged in rather than nested."""
    metadata: dict[str, Any] = {}
    for key, value in record.items():
        if key in used:
            continue
        if key == "metadata" and isinstance(value, dict):
            metadata.update(value)
        else:
            metadata[key] = value
    return metadata
