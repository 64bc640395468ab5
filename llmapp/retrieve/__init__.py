"""Retrieval over a knowledge base: `open_retriever(settings, kb).search(query, k, filters) -> list[Hit]`.

Modes: "hybrid" (default; fused score in [0, 1]), "dense" (cosine in [-1, 1]) and "lexical" (normalised
BM25 in [0, 1]). Higher is better in every mode; `min_score` turns weak hits into an explicit empty result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from llmapp.errors import ConfigError
from llmapp.retrieve.base import Reranker, Retriever, distinct
from llmapp.retrieve.dense import DenseRetriever
from llmapp.retrieve.filters import Filters
from llmapp.retrieve.hybrid import FusionWeights, HybridRetriever
from llmapp.retrieve.lexical import LexicalRetriever
from llmapp.settings import Settings

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")

__all__ = ["MODES", "DenseRetriever", "Filters", "FusionWeights", "HybridRetriever", "LexicalRetriever",
           "Mode", "Reranker", "Retriever", "distinct", "open_retriever"]


def open_retriever(settings: Settings, kb: str | Path, min_score: float | None = None, mode: str = "hybrid",
                   rerank: str | Path | None = None, rerank_top: int = 20) -> Retriever:
    """A retriever over the knowledge base named or pointed to by `kb`, with the embedder it was built with.
    `rerank`: a local cross-encoder folder that reorders the best `rerank_top` candidates."""
    from ingest.embed import load_embedder
    from ingest.store import KnowledgeBase

    if mode not in MODES:
        raise ConfigError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
    base = KnowledgeBase.open(settings.kb_path(str(kb), must_exist=True))
    reranker = None
    if rerank is not None:
        from llmapp.retrieve.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker(rerank, device=settings.device)
    snapshot = base.snapshot()
    if mode == "lexical":
        return LexicalRetriever(snapshot, min_score, reranker, rerank_top)
    # the snapshot's embedder, not the one read at open: `kb tune` may have switched it in between
    embedder = load_embedder(snapshot.manifest.embedder["name"], device=settings.device,
                             precision=settings.embed_precision)
    if mode == "dense":
        return DenseRetriever(snapshot, embedder, min_score, reranker, rerank_top)
    from llmapp.retrieve.coverage import kb_coverage

    coverage = kb_coverage(snapshot, embedder, settings.home / "cache" / "coverage")
    return HybridRetriever(snapshot, embedder, coverage, min_score=min_score, reranker=reranker,
                           rerank_top=rerank_top)
