"""Retrieval over a knowledge base: `open_retriever(settings, kb).search(query, k, filters) -> list[Hit]`.

Modes: "hybrid" (default; fused score in [0, 1]), "dense" (cosine in [-1, 1]) and "lexical" (normalised
BM25 in [0, 1]). Higher is better in every mode; `min_score` turns weak hits into an explicit empty result.
`build_retriever(knowledge_base, embedder, ...)` (retrieve.factory) assembles every retriever; `open_retriever`
is its thin wrapper for the CLI, taking the few `Settings` fields it needs.
"""

from __future__ import annotations

from pathlib import Path

from llmapp.retrieve.base import Reranker, Retriever, distinct
from llmapp.retrieve.dense import DenseRetriever
from llmapp.retrieve.factory import MODES, Mode, build_retriever, check_mode
from llmapp.retrieve.filters import Filters
from llmapp.retrieve.hybrid import FusionWeights, HybridRetriever
from llmapp.retrieve.lexical import LexicalRetriever
from llmapp.settings import Settings

__all__ = ["MODES", "DenseRetriever", "Filters", "FusionWeights", "HybridRetriever", "LexicalRetriever",
           "Mode", "Reranker", "Retriever", "build_retriever", "distinct", "open_retriever"]


def open_retriever(settings: Settings, kb: str | Path, min_score: float | None = None, mode: str = "hybrid",
                   rerank: str | Path | None = None, rerank_top: int = 20) -> Retriever:
    """A retriever over the knowledge base named or pointed to by `kb`, with the embedder it was built with.
    `rerank`: a local cross-encoder folder that reorders the best `rerank_top` candidates."""
    from ingest.embed import Embedder, load_embedder
    from ingest.store import KnowledgeBase

    check_mode(mode)
    base = KnowledgeBase.open(settings.kb_path(str(kb), must_exist=True))
    reranker = None
    if rerank is not None:
        from llmapp.retrieve.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker(rerank, device=settings.device)
    def embedder(name: str) -> Embedder:
        return load_embedder(name, device=settings.device, precision=settings.embed_precision)

    return build_retriever(base, None if mode == "lexical" else embedder, mode, min_score, reranker, rerank_top,
                           coverage_cache=settings.home / "cache" / "coverage")
