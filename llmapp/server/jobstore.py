"""Jobs on disk: one SQLite file next to the knowledge bases (`$LLMAPP_HOME/.jobs.sqlite`).

A job is written when it is accepted (before the client hears 202), when it starts, as it progresses and when it
ends, with the spec that rebuilds its work (the uploaded file names, or the document to remove). After a crash
or a kill -9 the server reads the unfinished ones back and runs them again: ingesting is incremental, so a
re-run finishes the work without redoing what was committed; a job whose knowledge base is gone is marked
failed. Finished jobs stay readable through GET /jobs/{id} across restarts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, kb TEXT NOT NULL, total INTEGER NOT NULL, status TEXT NOT NULL,
    done INTEGER NOT NULL, result TEXT, error TEXT, created_at REAL NOT NULL, started_at REAL,
    finished_at REAL, spec TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
"""
_COLUMNS = ("id", "kind", "kb", "total", "status", "done", "result", "error", "created_at", "started_at",
            "finished_at", "spec")


class JobStore:
    """Rows of jobs, one connection shared under a lock (writes are tiny and rare)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # an accepted job survives a power cut, not only a kill
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def save(self, row: dict[str, Any]) -> None:
        values = [json.dumps(row[c]) if c in ("result", "spec") and row[c] is not None else row[c]
                  for c in _COLUMNS]
        with self._lock:
            self._conn.execute(f"INSERT OR REPLACE INTO jobs VALUES ({','.join('?' * len(_COLUMNS))})", values)

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` jobs and every unfinished one, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM (SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?) UNION "
                "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at", (limit,)).fetchall()
        return [self._row(row) for row in rows]

    def prune(self, keep: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM jobs WHERE status IN ('succeeded', 'failed') AND id NOT IN "
                               "(SELECT id FROM jobs ORDER BY created_at DESC LIMIT ?)", (keep,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def _row(row: tuple[Any, ...]) -> dict[str, Any]:
        out = dict(zip(_COLUMNS, row, strict=True))
        for column in ("result", "spec"):
            out[column] = json.loads(out[column]) if out[column] is not None else None
        return out
