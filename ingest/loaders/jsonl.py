"""JSON Lines (.jsonl): one object per line, one Document per object (BEIR corpus.jsonl works as is)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions, LoadResult, read_text
from ingest.loaders.rows import RowReader, resolve_fields

_Record = tuple[int, int, dict[str, Any]]  # (row number, line, object)


def _parse(path: Path, text: str) -> tuple[list[_Record], list[LoadError]]:
    """Objects with their row numbers (non-blank lines, so a malformed line still takes its number)."""
    records: list[_Record] = []
    errors: list[LoadError] = []
    row_number = 0
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        row_number += 1
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(LoadError(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", line=line))
            continue
        if not isinstance(record, dict):
            reason = f"expected a JSON object, got {type(record).__name__}"
            errors.append(LoadError(str(path), reason, line=line))
            continue
        records.append((row_number, line, record))
    return records, errors


class JsonlLoader:
    extensions = (".jsonl",)

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        records, errors = _parse(path, read_text(path, options))
        if not records:
            raise LoadError(str(path), f"no JSON object in this file ({len(errors)} malformed line(s))")
        # Fields are detected from the first object; a later row without them is a row error.
        rows = RowReader(path, resolve_fields(list(records[0][2]), options, path))
        result = LoadResult([], errors)
        for row_number, line, record in records:
            try:
                if rows.fields.text not in record:
                    raise LoadError(str(path), f"no {rows.fields.text!r} field", line=line)
                result.documents.append(rows.document(record, row_number, line))
            except LoadError as exc:
                result.errors.append(exc)
        result.errors.sort(key=lambda e: e.line or 0)
        return result
