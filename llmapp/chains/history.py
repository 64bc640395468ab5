"""Chat history in SQLite, one conversation per id: what was asked, what it was condensed to, what was answered.

One small table; every write is its own transaction, so a crash loses at most the turn being written. Safe to
share between threads (one connection behind a lock) and between processes (SQLite's own locking, WAL mode).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    standalone TEXT,
    citations TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation, id);
"""


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str
    standalone: str | None = None  # user turns: the question as searched
    citations: list[dict[str, Any]] = field(default_factory=list)  # assistant turns


class ChatHistory:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def turns(self, conversation: str, last: int | None = None) -> list[Turn]:
        """The conversation's turns, oldest first; only the `last` ones when given."""
        query = "SELECT role, content, standalone, citations FROM turns WHERE conversation = ? ORDER BY id DESC"
        params: tuple[Any, ...] = (conversation,)
        if last is not None:
            query, params = query + " LIMIT ?", (conversation, last)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [Turn(role, content, standalone, json.loads(cites)) for role, content, standalone, cites
                in reversed(rows)]

    def add_exchange(self, conversation: str, question: str, standalone: str | None, answer: str,
                     citations: list[dict[str, Any]]) -> None:
        """A question and its answer, stored together or not at all."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("INSERT INTO turns (conversation, role, content, standalone, created) "
                                 "VALUES (?, 'user', ?, ?, ?)", (conversation, question, standalone, now))
                self._db.execute("INSERT INTO turns (conversation, role, content, citations, created) "
                                 "VALUES (?, 'assistant', ?, ?, ?)",
                                 (conversation, answer, json.dumps(citations, ensure_ascii=False), now))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def reset(self, conversation: str) -> int:
        """Forget a conversation; returns how many turns were removed."""
        with self._lock:
            return self._db.execute("DELETE FROM turns WHERE conversation = ?", (conversation,)).rowcount

    def conversations(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT conversation FROM turns GROUP BY conversation ORDER BY MAX(id) DESC")
            return [row[0] for row in rows.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()
