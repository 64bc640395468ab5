"""A synthetic knowledge base shaped like a real one, for approximate-search measurements (bench/search.py
--clustered N).

Vectors: `topics` Gaussian clusters on the 384-d unit sphere (chunks of one topic lie around its centre, as
the passages of one subject do under a sentence embedder); uniform random vectors would make every approximate
index look bad and no real corpus looks like that. Texts: 45 words drawn from a Zipf vocabulary of 20,000
common words plus 15 words of the chunk's topic (50 per topic), so BM25 has realistic document frequencies.
Queries: near a random chunk (its vector plus noise, renormalised; a few of its topic words and of its own
words), embedded by `PlantedEmbedder`, which returns the planted vector of each query text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COMMON = [f"w{i}" for i in range(20000)]
TOPIC_WORDS = 50
PER_FILE = 100
SPREAD = 0.045  # noise per dimension: cosine to the topic centre ~0.75, to a same-topic neighbour ~0.55
QUERY_NOISE = 0.03


@dataclass
class Planted:
    """The queries of a clustered knowledge base and the vectors they are to be embedded as."""

    texts: list[str]
    vectors: np.ndarray


class PlantedEmbedder:
    """Embeds each planted query text as its planted vector (the bench times search, not a model)."""

    def __init__(self, planted: Planted) -> None:
        self.table = {text: vector for text, vector in zip(planted.texts, planted.vectors, strict=True)}

    def embed(self, texts: Sequence[str], role: str = "query") -> np.ndarray:
        return np.stack([self.table[text] for text in texts])


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def clustered_kb(path: Path, n_chunks: int, topics: int, policy: Any, dimension: int = 384,
                 n_queries: int = 200) -> Planted:
    """Write the knowledge base (indexes synced under `policy`) and return its planted queries."""
    from ingest.store import ChunkingSpec, EmbedderSpec, KnowledgeBase, Manifest

    rng = np.random.default_rng(0)
    centres = unit(rng.standard_normal((topics, dimension)))
    manifest = Manifest(embedder=EmbedderSpec(f"hash:{dimension}", dimension), chunking=ChunkingSpec(128, 0))
    kb = KnowledgeBase.create(path, manifest)
    query_of = set(rng.choice(n_chunks, size=n_queries, replace=False).tolist())
    planted = Planted([], np.zeros((0, dimension), dtype=np.float32))
    with kb.writer(policy) as writer:
        changes = [_file(writer, begin, min(PER_FILE, n_chunks - begin), centres, rng, query_of, planted)
                   for begin in range(0, n_chunks, PER_FILE)]
        added, removed = writer.commit(changes)
        writer.sync_indexes(added, removed)
    return planted


def _file(writer: Any, begin: int, count: int, centres: np.ndarray, rng: np.random.Generator,
          query_of: set[int], planted: Planted) -> Any:
    from ingest.lexical import tokenize
    from ingest.store import FileChange, NewDocument

    topic = int(rng.integers(len(centres)))  # one file, one subject
    vectors = unit(centres[topic] + SPREAD * rng.standard_normal((count, centres.shape[1])))
    words = rng.zipf(1.3, size=(count, 45)) % len(COMMON)
    topical = rng.integers(TOPIC_WORDS, size=(count, 15))
    rows, documents = [], []
    for ordinal in range(count):
        text = " ".join([COMMON[w] for w in words[ordinal]] + [f"t{topic}x{w}" for w in topical[ordinal]])
        sha = hashlib.sha256(f"{begin + ordinal} {text}".encode()).hexdigest()
        rows.append((sha, text, tokenize(text), vectors[ordinal]))
        # one record per chunk (a JSONL file of short passages): hits never merge as neighbouring spans
        documents.append(NewDocument(f"doc{begin + ordinal}", "", {}, len(text), [(sha, 0, 0, len(text), 60, {})]))
        if begin + ordinal in query_of:
            _plant(text, vectors[ordinal], rng, planted)
    writer.add_texts(rows)
    return FileChange(f"/synthetic/{begin}.jsonl", sha, 0, 0, documents)


def _plant(text: str, vector: np.ndarray, rng: np.random.Generator, planted: Planted) -> None:
    words = text.split()
    query = " ".join(rng.choice(words[:45], size=3).tolist() + rng.choice(words[45:], size=3).tolist())
    near = unit(vector + QUERY_NOISE * rng.standard_normal(vector.shape))
    planted.texts.append(f"{query} #{len(planted.texts)}")  # unique, so the table maps each to its own vector
    planted.vectors = np.vstack([planted.vectors, near[None, :]])
