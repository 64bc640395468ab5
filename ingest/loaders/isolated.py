"""Loaders in a child process with a memory limit and a timeout, for files that come from strangers.

A hostile upload (a zip bomb past the checks, a PDF whose page tree loops, a parser bug) then costs one child
process and one `LoadError`, never the server. The child is `python -m ingest.loaders.isolated`: it lowers its
own address-space limit (`resource.setrlimit(RLIMIT_AS)`) before it reads a byte, loads one file, and writes the
result as JSON on stdout. JSON, not pickle: the parent never unpickles what a child that parsed hostile input
sends back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ingest.documents import Document, Section
from ingest.errors import LoadError
from ingest.loaders.base import LoadOptions, LoadResult

_OUT_OF_MEMORY = 3


@dataclass(frozen=True)
class Sandbox:
    """How much one child may use: address space in bytes, and wall-clock seconds."""

    memory_bytes: int = 2 * 2**30
    timeout_s: float = 120.0


def load_isolated(path: Path, options: LoadOptions, sandbox: Sandbox) -> LoadResult:
    """`load_file(path, options)` in a child process; any way the child fails is a LoadError for this file."""
    request = json.dumps({"path": str(path), "options": asdict(options), "memory_bytes": sandbox.memory_bytes})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-m", "ingest.loaders.isolated"], input=request.encode(),
                              capture_output=True, timeout=sandbox.timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise LoadError(str(path), f"reading it took longer than {sandbox.timeout_s:g} s and was stopped "
                                   "(a damaged or hostile file?)") from None
    if done.returncode == _OUT_OF_MEMORY:
        raise LoadError(str(path), f"reading it needed more than {sandbox.memory_bytes // 2**20:,} MiB and was "
                                   "stopped (a decompression bomb?)")
    if done.returncode != 0:
        raise LoadError(str(path), f"the loader crashed (exit status {done.returncode}) on this file")
    return _result(json.loads(done.stdout))


def _result(payload: dict[str, Any]) -> LoadResult:
    if "failed" in payload:
        raise LoadError(**payload["failed"])
    documents = [Document(**{**doc, "sections": [Section(**s) for s in doc["sections"]]})
                 for doc in payload["documents"]]
    return LoadResult(documents, [LoadError(**error) for error in payload["errors"]])


def _error(exc: LoadError) -> dict[str, Any]:
    return {"path": exc.path, "reason": exc.reason, "line": exc.line}


def _child() -> int:
    import resource

    request = json.loads(sys.stdin.buffer.read())
    limit = int(request["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        payload = _load(Path(request["path"]), LoadOptions(**request["options"]))
        if "MemoryError" in payload.get("failed", {}).get("reason", ""):  # load_file wraps a loader's errors
            return _OUT_OF_MEMORY
        sys.stdout.write(json.dumps(payload, ensure_ascii=False))
    except MemoryError:
        return _OUT_OF_MEMORY
    return 0


def _load(path: Path, options: LoadOptions) -> dict[str, Any]:
    from ingest.loaders import load_file

    try:
        result = load_file(path, options)
    except LoadError as exc:
        return {"failed": _error(exc)}
    return {"documents": [asdict(doc) for doc in result.documents],
            "errors": [_error(error) for error in result.errors]}


if __name__ == "__main__":
    sys.exit(_child())
