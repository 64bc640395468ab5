"""Reading training data: .jsonl, .csv and .tsv rows with their line numbers, bad rows reported and skipped.

A task turns each raw row into a record with `parse(row) -> record`, raising `BadRow` for a missing field
or an unknown label. Bad rows are logged with their line number and skipped; when more than
`max_bad_fraction` of a file is bad the job stops here, before any model is loaded.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from finetune.errors import DataError

logger = logging.getLogger(__name__)

Record = TypeVar("Record")
SUFFIXES = (".jsonl", ".csv", ".tsv")
_SHOWN_BAD_ROWS = 20


class BadRow(ValueError):
    """Raised by a task's row parser; the message says what is wrong with the row."""


@dataclass(frozen=True)
class Row:
    line: int
    fields: dict[str, Any]


@dataclass
class Problem:
    line: int
    reason: str


@dataclass
class Loaded(Generic[Record]):
    """The good records of one file, and what was wrong with the others."""

    path: Path
    records: list[Record]
    problems: list[Problem] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rows": len(self.records) + len(self.problems),
            "kept": len(self.records),
            "bad": [{"line": p.line, "reason": p.reason} for p in self.problems],
        }


def _read_jsonl(path: Path) -> Iterator[Row | Problem]:
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Problem(line_no, f"not valid JSON ({exc.msg})")
                continue
            if isinstance(value, dict):
                yield Row(line_no, value)
            else:
                yield Problem(line_no, "a JSON line must be an object")


def _read_delimited(path: Path, delimiter: str) -> Iterator[Row | Problem]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        # TSV files (GLUE, ChnSentiCorp) contain bare quotes inside fields: no quoting there.
        reader = (
            csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE)
            if delimiter == "\t"
            else csv.reader(handle, delimiter=delimiter)
        )
        header = next(reader, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        start = reader.line_num + 1
        for cells in reader:
            line_no, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                yield Problem(line_no, f"{len(cells)} fields where the header has {len(names)}")
                continue
            yield Row(line_no, dict(zip(names, cells, strict=True)))


def read_rows(path: Path) -> Iterator[Row | Problem]:
    """Rows of a data file, numbered by the line they start on (a CSV/TSV header is line 1)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"data file {path}: unsupported format {suffix!r}; use one of {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix in (".csv", ".tsv"):
        return _read_delimited(path, "\t" if suffix == ".tsv" else ",")
    raise DataError(f"data file {path}: unsupported format {suffix!r}; use one of {', '.join(SUFFIXES)}")


def load_records(path: Path, parse: Callable[[dict[str, Any]], Record], max_bad_fraction: float) -> Loaded[Record]:
    """Parses every row with `parse`; stops with a DataError when too many rows are bad."""
    loaded: Loaded[Record] = Loaded(path, [])
    for item in read_rows(path):
        if isinstance(item, Problem):
            loaded.problems.append(item)
            continue
        try:
            loaded.records.append(parse(item.fields))
        except BadRow as exc:
            loaded.problems.append(Problem(item.line, str(exc)))
    _check(loaded, max_bad_fraction)
    return loaded


def _check(loaded: Loaded[Any], max_bad_fraction: float) -> None:
    total = len(loaded.records) + len(loaded.problems)
    for problem in loaded.problems[:_SHOWN_BAD_ROWS]:
        logger.warning("%s line %d skipped: %s", loaded.path.name, problem.line, problem.reason)
    if len(loaded.problems) > _SHOWN_BAD_ROWS:
        logger.warning(
            "%s: %d more bad rows (all listed in data_report.json)",
            loaded.path.name,
            len(loaded.problems) - _SHOWN_BAD_ROWS,
        )
    if total == 0:
        raise DataError(f"data file {loaded.path} has no rows")
    if not loaded.records or len(loaded.problems) / total > max_bad_fraction:
        first = "; ".join(f"line {p.line}: {p.reason}" for p in loaded.problems[:5])
        raise DataError(
            f"{loaded.path}: {len(loaded.problems)} of {total} rows are bad (more than "
            f"data.max_bad_fraction={max_bad_fraction}), not training. First ones: {first}. "
            "Fix the rows or the column names in the job's data section."
        )


def split_records(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """A seeded train/validation split, used when the job names no validation file."""
    if len(records) < 2:
        raise DataError("need at least 2 training rows to carve a validation split; add data.validation")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    size = min(len(records) - 1, max(1, round(len(records) * fraction)))
    held = set(order[:size])
    train = [r for i, r in enumerate(records) if i not in held]
    return train, [records[i] for i in sorted(held)]


def text(value: Any, name: str) -> str:
    """A required non-empty text field, or BadRow naming the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRow(f"missing field '{name}'")
    if not isinstance(value, str | int | float):
        raise BadRow(f"field '{name}' must be text, got {type(value).__name__}")
    return str(value)


UNKNOWN_WARNING = 0.05  # share of [UNK] tokens above which the base model's vocabulary does not fit the data


def unknown_share(tokenizer: Any, rows: list[list[int]]) -> float | None:
    """Share of the tokens that are the tokenizer's unknown token (None when it has none, e.g. byte-level BPE).
    MiniLM, for one, maps most Chinese characters to [UNK]: a job on Chinese text learns almost nothing."""
    unk = getattr(tokenizer, "unk_token_id", None)
    total = sum(len(row) for row in rows)
    if unk is None or total == 0:
        return None
    return round(sum(row.count(unk) for row in rows) / total, 4)


def length_stats(lengths: list[int], max_length: int) -> dict[str, Any]:
    """Token-length statistics of untruncated inputs and how many exceed `max_length`."""
    if not lengths:
        return {"count": 0}
    ordered = sorted(lengths)

    def pct(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 1),
        "p50": pct(0.5),
        "p95": pct(0.95),
        "max": ordered[-1],
        "max_length": max_length,
        "truncated": sum(1 for n in ordered if n > max_length),
    }
