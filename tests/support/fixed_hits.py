"""Fixed hits and a retriever over them: the chains are tested without a knowledge base."""

from __future__ import annotations

from typing import Any

from llmapp.hits import Hit

FAQ = (
    "Does llmapp need a GPU?\nNo. Every default model runs on a CPU. A GPU, when present, is used for "
    "embedding and generation automatically.\n\nWhich languages are supported?\nEnglish and Chinese."
)
ZH = "## 增量更新\n文档有变化时，再次运行 llmapp ingest 即可。未修改的文件会被跳过，不会重新计算向量。"


def hit(rank: int, text: str, source: str = "doc.txt", score: float | None = None) -> Hit:
    return Hit(rank=rank, score=score if score is not None else 1.0 - rank / 10, text=text, source=source,
               doc_id=source, chunk_id=100 + rank, ordinal=rank - 1, span=(0, len(text)))


class FixedRetriever:
    """Returns its hits (best first), at most k, minus those under min_score; records the queries."""

    def __init__(self, hits: list[Hit], min_score: float | None = None) -> None:
        self.hits = hits
        self.min_score = min_score
        self.queries: list[str] = []

    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None) -> list[Hit]:
        self.queries.append(query)
        kept = [h for h in self.hits if self.min_score is None or h.score >= self.min_score]
        return kept[:k]
