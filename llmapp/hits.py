"""A retrieval hit: one chunk of a knowledge base with its score and provenance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Hit:
    """One retrieved chunk. Scores: higher is better, whatever the retrieval mode."""

    rank: int  # 1-based
    score: float
    text: str
    source: str  # the file the chunk came from
    doc_id: str  # the document within that file (the path itself for whole files, a row id for tables)
    chunk_id: int  # the integer id shared by the docstore and the dense index
    ordinal: int  # position of the chunk within its document
    span: tuple[int, int]  # character span of the chunk in its document's text
    metadata: dict[str, Any] = field(default_factory=dict)  # page, heading, row fields

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["span"] = list(self.span)
        return out
