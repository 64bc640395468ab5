"""Delimited tables (.csv, .tsv): a header row, then one Document per data row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions, LoadResult, read_text
from ingest.loaders.rows import RowReader, resolve_fields


class TableLoader:
    extensions = (".csv", ".tsv")

    def load(self, path: Path, options: LoadOptions) -> LoadResult:
        text = read_text(path, options)
        # The csv module's field limit is process-wide; raise it (never lower it) to the line limit,
        # which read_text has already enforced.
        csv.field_size_limit(max(csv.field_size_limit(), options.max_line_chars))
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        header = [name.strip() for name in next(reader)]
        rows = RowReader(path, resolve_fields(header, options, path))
        result = LoadResult([])
        row_number, last_line = 0, reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                result.errors.append(LoadError(str(path), f"malformed row: {exc}", line=last_line + 1))
                last_line = reader.line_num
                continue
            line, last_line = last_line + 1, reader.line_num
            if not row:  # blank line
                continue
            row_number += 1
            try:
                if len(row) != len(header):
                    reason = f"row has {len(row)} fields, the header has {len(header)}"
                    raise LoadError(str(path), reason, line=line)
                result.documents.append(rows.document(dict(zip(header, row, strict=True)), row_number, line))
            except LoadError as exc:
                result.errors.append(exc)
        return result
