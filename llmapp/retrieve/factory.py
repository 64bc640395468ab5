"""The one place a retriever is assembled from a knowledge base and an embedder (CLI, server and eval use it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ingest.store.backend import is_remote
from llmapp.errors import ConfigError
from llmapp.retrieve.base import Reranker, Retriever
from llmapp.retrieve.dense import DenseRetriever
from llmapp.retrieve.hybrid import HybridRetriever
from llmapp.retrieve.lexical import LexicalRetriever

if TYPE_CHECKING:
    from ingest.embed import Embedder
    from ingest.store.backend import StoreBackend

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")


def build_retriever(base: StoreBackend, embedder: Embedder | None, mode: str = "hybrid",
                    min_score: float | None = None, reranker: Reranker | None = None, rerank_top: int = 20,
                    coverage_cache: Path | None = None) -> Retriever:
    """A retriever over a snapshot of `base` (a local folder or a Milvus knowledge base) at its latest version.

    `embedder` must be the one the knowledge base was built with (lexical mode does not use it: pass None).
    `coverage_cache`: where the hybrid fusion keeps its per-knowledge-base coverage measurement (None: measure
    each time).
    """
    check_mode(mode)
    if mode != "lexical" and embedder is None:
        raise ConfigError(f"{mode} retrieval needs the knowledge base's embedder ({base.manifest.embedder.name})")
    snapshot = base.snapshot()
    if is_remote(base.path):
        return _milvus_retriever(snapshot, embedder, mode, min_score, reranker, rerank_top, coverage_cache)
    if mode == "lexical":
        return LexicalRetriever(snapshot, min_score, reranker, rerank_top)
    if mode == "dense":
        return DenseRetriever(snapshot, embedder, min_score, reranker, rerank_top)
    from llmapp.retrieve.coverage import kb_coverage

    coverage = kb_coverage(snapshot, embedder, coverage_cache)
    return HybridRetriever(snapshot, embedder, coverage, min_score=min_score, reranker=reranker,
                           rerank_top=rerank_top)


def _milvus_retriever(snapshot: Any, embedder: Embedder | None, mode: str, min_score: float | None,
                      reranker: Reranker | None, rerank_top: int, coverage_cache: Path | None) -> Retriever:
    """Milvus searches, the local scores and fusion (llmapp.retrieve.milvus)."""
    from llmapp.retrieve.milvus import MilvusDenseRetriever, MilvusHybridRetriever, MilvusLexicalRetriever

    if mode == "lexical":
        return MilvusLexicalRetriever(snapshot, min_score, reranker, rerank_top)
    if mode == "dense":
        return MilvusDenseRetriever(snapshot, embedder, min_score, reranker, rerank_top)
    from llmapp.retrieve.coverage import kb_coverage

    coverage = kb_coverage(snapshot, embedder, coverage_cache)
    return MilvusHybridRetriever(snapshot, embedder, coverage, min_score=min_score, reranker=reranker,
                                 rerank_top=rerank_top)
