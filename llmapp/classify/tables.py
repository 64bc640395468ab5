"""Streaming readers and append-only writers for .csv, .tsv, .jsonl and (with pyarrow) .parquet.

Readers yield one `Row` at a time and never hold the file in memory. A row that cannot be read (bytes that
are not UTF-8, a line that is not a JSON object) is yielded with `error` set instead of stopping the file.

Writers append and report a `position` (bytes for text formats, finished part files for parquet) that the
resume logic records after each fsync and truncates back to after a crash.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from llmapp.errors import ConfigError, DependencyMissing

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_COUNT_BLOCK = 1 << 22
csv.field_size_limit(2**31 - 1)  # a huge cell is a bad row to report, not a crash


@dataclass
class Row:
    """One input row: its 0-based number among data rows, its values, and why it could not be read."""

    number: int
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def table_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown format {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    if fmt == "parquet":
        _pyarrow()
    return fmt


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DependencyMissing("reading or writing .parquet needs pyarrow: pip install pyarrow") from None
    return pq


def has_undecodable(value: str) -> bool:
    """True when a str carries bytes that were not UTF-8 (kept as lone surrogates by 'surrogateescape')."""
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def clean(value: Any) -> Any:
    """A value safe to write as UTF-8: undecodable bytes become U+FFFD."""
    if isinstance(value, str) and has_undecodable(value):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


class Reader(Protocol):
    columns: list[str] | None  # known before reading rows (csv header, parquet schema); None for jsonl

    def rows(self) -> Iterator[Row]: ...

    def estimate_rows(self) -> int | None: ...


class DelimitedReader:
    def __init__(self, path: Path, delimiter: str) -> None:
        self.path, self.delimiter = path, delimiter
        with self._open() as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
        if not header:
            raise ConfigError(f"{path} is empty: a header line naming the columns is required")
        self.columns: list[str] | None = [clean(name) for name in header]

    def _open(self) -> IO[str]:
        return self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")

    def rows(self) -> Iterator[Row]:
        assert self.columns is not None
        with self._open() as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader, None)
            number = 0
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield Row(number, error=f"unreadable {self.path.suffix[1:]} line {reader.line_num}: {exc}")
                    number += 1
                    continue
                if not cells:
                    continue  # a blank line is not a row
                yield Row(number, dict(zip(self.columns, cells, strict=False)))
                number += 1

    def estimate_rows(self) -> int | None:
        return max(0, count_lines(self.path) - 1)


class JsonlReader:
    columns: list[str] | None = None

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> Iterator[Row]:
        with self.path.open("rb") as handle:
            number = 0
            for line_no, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                yield _json_row(number, line_no, raw)
                number += 1

    def estimate_rows(self) -> int | None:
        return count_lines(self.path)


def _json_row(number: int, line_no: int, raw: bytes) -> Row:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Row(number, error=f"line {line_no}: undecodable bytes (not UTF-8)")
    except ValueError as exc:
        return Row(number, error=f"line {line_no}: invalid JSON ({exc.args[0][:80]})")
    if not isinstance(record, dict):
        return Row(number, error=f"line {line_no}: a JSON {type(record).__name__}, not an object")
    return Row(number, record)


class ParquetReader:
    def __init__(self, path: Path, batch_rows: int = 8192) -> None:
        self.file = _pyarrow().ParquetFile(path)
        self.columns: list[str] | None = list(self.file.schema_arrow.names)
        self.batch_rows = batch_rows

    def rows(self) -> Iterator[Row]:
        number = 0
        for batch in self.file.iter_batches(batch_size=self.batch_rows):
            for record in batch.to_pylist():
                yield Row(number, record)
                number += 1

    def estimate_rows(self) -> int | None:
        return int(self.file.metadata.num_rows)


def count_lines(path: Path) -> int:
    """Newlines in the file (plus a last unterminated line): a fast row estimate for the progress bar."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_COUNT_BLOCK), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def open_reader(path: Path) -> Reader:
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist")
    fmt = table_format(path)
    if fmt in ("csv", "tsv"):
        return DelimitedReader(path, "," if fmt == "csv" else "\t")
    return JsonlReader(path) if fmt == "jsonl" else ParquetReader(path)


class Writer(Protocol):
    def write(self, records: list[dict[str, Any]]) -> None: ...

    def commit(self) -> int:
        """Makes everything written durable (fsync) and returns the position to resume from."""
        ...

    def close(self) -> None: ...

    def finish(self, final: Path) -> None:
        """Closes and moves the complete output to `final`."""
        ...


class TextWriter:
    """CSV, TSV or JSONL appended to one file; `position` is its size in bytes after a commit."""

    def __init__(self, path: Path, fmt: str, columns: list[str], position: int | None) -> None:
        self.path, self.fmt, self.columns = path, fmt, columns
        self.handle = path.open("a+" if position is not None else "w", encoding="utf-8", newline="")
        if position is not None:
            self.handle.truncate(position)  # drop what was written after the last commit
            self.handle.seek(position)
        if fmt != "jsonl":
            self.csv = csv.writer(self.handle, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
            if not position:
                self.csv.writerow(columns)

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.fmt == "jsonl":
            self.handle.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
        else:
            self.csv.writerows([_cell(r.get(name)) for name in self.columns] for r in records)

    def commit(self) -> int:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return self.handle.tell()

    def close(self) -> None:
        self.handle.close()

    def finish(self, final: Path) -> None:
        self.commit()
        self.close()
        os.replace(self.path, final)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


class ParquetWriter:
    """Parquet cannot be appended to: each commit is one part file in `<path>/`; `finish` joins them."""

    def __init__(self, path: Path, columns: list[str], position: int | None, numeric: set[str]) -> None:
        self.path, self.columns, self.numeric = path, columns, numeric
        self.pending: list[dict[str, Any]] = []
        if position is None:
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self.parts = position or 0
        for stale in path.glob("part-*.parquet"):
            if int(stale.stem.split("-")[1]) >= self.parts:
                stale.unlink()

    def write(self, records: list[dict[str, Any]]) -> None:
        self.pending.extend(records)

    def commit(self) -> int:
        if self.pending:
            pa = _pyarrow()
            table = _table(self.pending, self.columns, self.numeric)
            temp = self.path / f".part-{self.parts:06d}.tmp"
            pa.write_table(table, temp)
            with temp.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, self.path / f"part-{self.parts:06d}.parquet")
            self.parts, self.pending = self.parts + 1, []
        return self.parts

    def close(self) -> None:
        self.pending = []

    def finish(self, final: Path) -> None:
        self.commit()
        parts = sorted(self.path.glob("part-*.parquet"))
        temp = final.with_name(f".{final.name}.tmp")
        tables = (_pyarrow().read_table(p) for p in parts)
        first = next(tables, None) or _table([], self.columns, self.numeric)
        with _pyarrow().ParquetWriter(temp, first.schema) as out:
            out.write_table(first)
            for table in tables:
                out.write_table(table.cast(first.schema) if table.schema != first.schema else table)
        os.replace(temp, final)
        shutil.rmtree(self.path)


def _table(records: list[dict[str, Any]], columns: list[str], numeric: set[str]) -> Any:
    import pyarrow as pa

    # text columns and float score columns: one schema whatever values the first part happened to hold
    return pa.table({
        name: pa.array([_parquet_value(r.get(name), name in numeric) for r in records],
                       type=pa.float64() if name in numeric else pa.string())
        for name in columns
    })


def _parquet_value(value: Any, numeric: bool) -> Any:
    if value is None or value == "":
        return None
    if numeric:
        return float(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def open_writer(
    path: Path, fmt: str, columns: list[str], position: int | None, numeric: set[str] | None = None
) -> Writer:
    """A writer on the partial output `path`; `position` None starts afresh, else resumes there.

    `numeric`: the columns holding floats (typed columns in parquet; text formats do not care).
    """
    if fmt == "parquet":
        return ParquetWriter(path, columns, position, numeric or set())
    return TextWriter(path, fmt, columns, position)
