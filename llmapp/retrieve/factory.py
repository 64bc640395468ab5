"""The one place a retriever is assembled from a knowledge base and an embedder (CLI, server and eval use it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union

from llmapp.errors import ConfigError
from llmapp.retrieve.base import Reranker, Retriever
from llmapp.retrieve.dense import DenseRetriever
from llmapp.retrieve.hybrid import HybridRetriever
from llmapp.retrieve.lexical import LexicalRetriever

if TYPE_CHECKING:
    from ingest.embed import Embedder
    from ingest.store import KnowledgeBase, Snapshot

Mode = Literal["hybrid", "dense", "lexical"]
# An embedder, or a loader called with the embedder name the snapshot records (`load_embedder`-like).
EmbedderSource = Union["Embedder", Callable[[str], "Embedder"]]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")


def build_retriever(base: KnowledgeBase, embedder: EmbedderSource | None, mode: str = "hybrid",
                    min_score: float | None = None, reranker: Reranker | None = None, rerank_top: int = 20,
                    coverage_cache: Path | None = None) -> Retriever:
    """A retriever over a snapshot of `base` at its latest version.

    `embedder`: a loader (given the embedder name that the snapshot records: `kb tune` may switch a knowledge
    base's embedder between `KnowledgeBase.open` and the snapshot, so this is the safe choice), or the embedder
    the knowledge base was built with. Lexical mode uses none: pass None.
    `coverage_cache`: where the hybrid fusion keeps its per-knowledge-base coverage measurement (None: measure
    each time).
    """
    check_mode(mode)
    if mode != "lexical" and embedder is None:
        raise ConfigError(f"{mode} retrieval needs the knowledge base's embedder ({base.manifest.embedder.name})")
    snapshot = base.snapshot()
    if mode == "lexical":
        return LexicalRetriever(snapshot, min_score, reranker, rerank_top)
    try:
        embedder = _snapshot_embedder(snapshot, base, embedder)
    except Exception:
        snapshot.close()
        raise
    if mode == "dense":
        return DenseRetriever(snapshot, embedder, min_score, reranker, rerank_top)
    from llmapp.retrieve.coverage import kb_coverage

    coverage = kb_coverage(snapshot, embedder, coverage_cache)
    return HybridRetriever(snapshot, embedder, coverage, min_score=min_score, reranker=reranker,
                           rerank_top=rerank_top)


def _snapshot_embedder(snapshot: Snapshot, base: KnowledgeBase, source: EmbedderSource | None) -> Embedder:
    """The embedder of the snapshot's version: loaded by the name it records, or the given one if it still is."""
    from ingest.embed import Embedder

    recorded = snapshot.manifest.embedder
    if source is None:
        raise ConfigError(f"retrieval needs the knowledge base's embedder ({recorded.name})")
    if not isinstance(source, Embedder):
        return source(recorded.name)
    if not recorded.same_model(base.manifest.embedder):
        raise ConfigError(f"knowledge base {base.path.name} switched its embedder from {base.manifest.embedder.name}"
                          f" to {recorded.name} after it was opened: open it again (or pass a loader)")
    return source
