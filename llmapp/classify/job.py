"""Classify a whole file: streamed in windows, written incrementally, resumable after a crash or Ctrl-C.

While it runs the output goes to `<OUT>.partial` (a folder of parts for parquet), and after every window:
the output is flushed and fsynced, then `<OUT>.progress.json` is replaced atomically with the number of input
rows done and the output position. A crash leaves at most one window written past the last commit;
`--resume` truncates it away and skips the rows already done, so every input row appears exactly once.
When the last row is written, `<OUT>.partial` is renamed to `<OUT>` and the progress file removed: a file
named `<OUT>` is always complete.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmapp.classify.overlap import prefetch
from llmapp.classify.rows import BatchScorer, OutputSpec, Window, prepare, score
from llmapp.classify.tables import Reader, Row, open_reader, open_writer, table_format
from llmapp.errors import ConfigError

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass
class Summary:
    input: str
    output: str
    rows: int = 0  # input rows in the output so far (resumed ones included)
    ok: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    resumed_from: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    complete: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # model facts, int8 agreement, ...


@dataclass(frozen=True)
class Paths:
    output: Path
    partial: Path
    progress: Path

    @classmethod
    def of(cls, output: Path) -> Paths:
        return cls(output, output.with_name(output.name + ".partial"),
                   output.with_name(output.name + ".progress.json"))


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replaces the progress file atomically and durably (temp file, fsync, rename)."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(state, out, ensure_ascii=False, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def fingerprint(input_path: Path, spec: OutputSpec, model: dict[str, Any]) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    stat = input_path.stat()
    return {"input": str(input_path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "spec": asdict(spec), "model": model}


def load_state(paths: Paths, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The committed progress of an earlier run, checked against this one; None if there is none."""
    if not paths.progress.is_file():
        if paths.output.exists():
            raise ConfigError(f"{paths.output} is already complete; pass --overwrite to classify again")
        return None
    state: dict[str, Any] = json.loads(paths.progress.read_text(encoding="utf-8"))
    if state.get("version") != STATE_VERSION:
        raise ConfigError(f"{paths.progress} has an unknown version; delete it and {paths.partial} to start over")
    changed = _changed(expected, state["fingerprint"])
    if changed:
        raise ConfigError(
            f"cannot resume: {', '.join(changed)} changed since the partial run in {paths.partial}; "
            "run with the same input and options, or pass --overwrite to start over"
        )
    return state


def _changed(expected: dict[str, Any], recorded: dict[str, Any], prefix: str = "") -> list[str]:
    """The keys whose values differ, nested ones dotted (`model.weights_sha256`: the weights changed)."""
    out: list[str] = []
    for key, value in expected.items():
        old = recorded.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out += _changed(value, old, f"{prefix}{key}.")
        elif old != value:
            out.append(prefix + key)
    return out


def _refuse_clobber(paths: Paths) -> None:
    if paths.progress.exists() or paths.partial.exists():
        raise ConfigError(f"a partial run exists ({paths.partial}): pass --resume to continue it or "
                          "--overwrite to start over")
    if paths.output.exists():
        raise ConfigError(f"{paths.output} exists: pass --overwrite to replace it")


def windows(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


@dataclass
class Scored:
    """Consecutive input rows as output records (one per row, in input order) and why each failed row failed."""

    records: list[dict[str, Any]]
    errors: list[str]


# (input file, rows already done, result column names) -> the remaining rows, scored, in input order
Engine = Callable[[Path, int, dict[str, str]], Iterator[Scored]]


def local_engine(scorer: BatchScorer, spec: OutputSpec, batch_size: int = 64, window: int = 2048) -> Engine:
    """Scores in this process, tokenising the next window in a thread while the model runs."""

    def run(input_path: Path, start: int, names: dict[str, str]) -> Iterator[Scored]:
        rows = itertools.islice(open_reader(input_path).rows(), start, None)
        prepared: Iterator[Window] = prefetch(prepare(scorer, w, spec) for w in windows(rows, window))
        for ready in prepared:
            records = score(scorer, ready, spec, names, batch_size)  # may add errors (unscored rows)
            yield Scored(records, list(ready.errors.values()))

    return run


def input_columns(reader: Reader, spec: OutputSpec) -> list[str]:
    """The input's columns (a jsonl file's come from its first object); the text column must be there."""
    columns = reader.columns
    if columns is None:
        first = next((row for row in reader.rows() if row.error is None), None)
        columns = list(first.values) if first else [spec.text_column]
    elif spec.text_column not in columns:
        raise ConfigError(f"no column '{spec.text_column}' in the input; columns: {', '.join(columns)}; "
                          "choose one with --text-column")
    if spec.id_column and reader.columns is not None and spec.id_column not in columns:
        raise ConfigError(f"no id column '{spec.id_column}' in the input; columns: {', '.join(columns)}")
    return columns


def check_paths(input_path: Path, output: Path, spec: OutputSpec, resume: bool = False,
                overwrite: bool = False) -> None:
    """Everything about the input and output that can be wrong, checked before a model is loaded: formats,
    the input's existence and columns, the output's folder, and an output or partial run in the way."""
    table_format(output)
    input_columns(open_reader(input_path), spec)
    if not output.parent.is_dir():
        raise ConfigError(f"cannot write {output}: the folder {output.parent} does not exist")
    if not resume and not overwrite:
        _refuse_clobber(Paths.of(output))


def classify_file(
    scorer: BatchScorer,
    input_path: Path,
    output: Path,
    spec: OutputSpec,
    model_facts: dict[str, Any],
    batch_size: int = 64,
    window: int = 2048,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    engine: Engine | None = None,
) -> Summary:
    """Classifies every row of `input_path` into `output`; `progress(rows_done, rows_expected)` per window.

    `engine` runs the batches (default: `local_engine`, this process; `llmapp.classify.ray_engine` for Ray).
    Whatever runs them, this loop alone writes, commits and records progress, so resuming works the same.
    """
    fmt = table_format(output)
    reader = open_reader(input_path)
    paths = Paths.of(output)
    expected = fingerprint(input_path, spec, model_facts)
    state = load_state(paths, expected) if resume and not overwrite else None
    if not resume and not overwrite:
        _refuse_clobber(paths)
    if state is None:
        columns = input_columns(reader, spec)
        names = spec.names(columns)
        columns = columns + [n for n in names.values() if n not in columns]
        state = {"version": STATE_VERSION, "fingerprint": expected, "columns": columns, "names": names,
                 "rows_done": 0, "position": None, "ok": 0, "errors": 0, "error_kinds": {}}
        if paths.output.exists():
            paths.output.unlink()
        paths.progress.unlink(missing_ok=True)  # a stale one from an overwritten run must not be resumed
    summary = Summary(str(input_path), str(output), rows=state["rows_done"], ok=state["ok"],
                      errors=state["errors"], error_kinds=dict(state["error_kinds"]),
                      resumed_from=state["rows_done"], extra=dict(model_facts))
    if summary.resumed_from:
        logger.info("resuming %s after %d rows", output, summary.resumed_from)
    numeric = {state["names"][k] for k in state["names"] if k.startswith("score")}
    writer = open_writer(paths.partial, fmt, state["columns"], state["position"], numeric)
    total, started = reader.estimate_rows(), time.monotonic()
    if progress:
        progress(state["rows_done"], total)
    run = engine or local_engine(scorer, spec, batch_size, window)
    try:
        for scored in run(input_path, state["rows_done"], state["names"]):
            writer.write(scored.records)
            _account(state, scored, writer.commit())
            write_state(paths.progress, state)
            if progress:
                progress(state["rows_done"], total)
    except BaseException:
        writer.close()  # the progress file still marks the last commit; --resume continues from there
        raise
    writer.finish(output)
    paths.progress.unlink(missing_ok=True)
    summary.seconds = time.monotonic() - started
    done = state["rows_done"] - summary.resumed_from
    summary.rows, summary.ok, summary.errors = state["rows_done"], state["ok"], state["errors"]
    summary.error_kinds, summary.complete = state["error_kinds"], True
    summary.rows_per_s = done / summary.seconds if summary.seconds > 0 else 0.0
    return summary


def _account(state: dict[str, Any], scored: Scored, position: int) -> None:
    state["rows_done"] += len(scored.records)
    state["position"] = position
    state["ok"] += len(scored.records) - len(scored.errors)
    state["errors"] += len(scored.errors)
    kinds = Counter(state["error_kinds"])
    kinds.update(_kind(reason) for reason in scored.errors)
    state["error_kinds"] = dict(kinds)


def _kind(reason: str) -> str:
    """'line 7: invalid JSON (...)' -> 'invalid JSON': counts group rows by what went wrong."""
    reason = reason.split(": ", 1)[1] if reason.startswith("line ") and ": " in reason else reason
    return reason.split(" (")[0].split(":")[0]


def sample_texts(input_path: Path, spec: OutputSpec, n: int = 256) -> list[str]:
    """The first `n` classifiable texts of a file (e.g. to check int8 against fp32 before a run)."""
    from llmapp.classify.rows import text_or_error

    texts = []
    for row in open_reader(input_path).rows():
        text, _ = text_or_error(row, spec)
        if text is not None:
            texts.append(text)
            if len(texts) == n:
                break
    return texts
