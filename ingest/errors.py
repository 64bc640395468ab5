"""The exceptions ingest raises. The CLI and the server turn them into messages and exit codes."""

from __future__ import annotations

from llmcommon.errors import UserError


class IngestError(UserError):
    """Base class: something about the input or the knowledge base that the user can fix."""


class LoadError(IngestError):
    """One file (or one row of it) could not be read. Never aborts an ingest: it is reported."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "error": self.reason}
        if self.line is not None:
            out["line"] = self.line
        return out


class KnowledgeBaseError(IngestError):
    """The knowledge base folder is missing, locked, from another schema or built with another embedder."""


class KnowledgeBaseLocked(KnowledgeBaseError):
    """Another process is writing this knowledge base."""
