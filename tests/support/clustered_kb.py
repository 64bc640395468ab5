"""Knowledge bases of clustered unit vectors written straight through the store (no model), for the
approximate-search tests: each file is one topic, its chunks lie near the topic's direction on the sphere."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ingest.lexical import tokenize
from ingest.store import ChunkingSpec, EmbedderSpec, FileChange, KnowledgeBase, Manifest, NewDocument
from ingest.store.dense_index import DensePolicy

DIMENSION = 32
TOPICS = 40
SPREAD = 0.35  # noise per dimension around a topic: neighbours overlap, so the lists must be searched well


def topic_centres(seed: int = 0) -> np.ndarray:
    centres = np.random.default_rng(seed).standard_normal((TOPICS, DIMENSION)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def near(centre: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    vectors = centre + SPREAD * rng.standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def file_change(writer: object, name: str, vectors: np.ndarray) -> FileChange:
    """Store `vectors` as the chunks of one file `name` (texts made unique by name and ordinal)."""
    rows, chunks = [], []
    for ordinal, vector in enumerate(vectors):
        text = f"{name} chunk {ordinal}"
        sha = hashlib.sha256(text.encode()).hexdigest()
        rows.append((sha, text, tokenize(text), vector))
        chunks.append((sha, ordinal, 0, len(text), 3, {}))
    writer.add_texts(rows)  # type: ignore[attr-defined]
    return FileChange(name, hashlib.sha256(name.encode()).hexdigest(), 0, 0, [NewDocument(name, "", {}, 0, chunks)])


def write_files(kb: KnowledgeBase, files: dict[str, np.ndarray], policy: DensePolicy,
                remove: tuple[str, ...] = ()) -> tuple[list[int], list[int]]:
    """One ingest-like change: add/replace `files`, drop `remove`, then sync the indexes under `policy`."""
    with kb.writer(policy) as writer:
        changes = [file_change(writer, name, vectors) for name, vectors in files.items()]
        changes += [FileChange(path=name) for name in remove]
        added, removed = writer.commit(changes)
        writer.sync_indexes(added, removed)
    return added, removed


def clustered_kb(path: Path, files: int, per_file: int, policy: DensePolicy, seed: int = 0) -> KnowledgeBase:
    manifest = Manifest(embedder=EmbedderSpec(f"hash:{DIMENSION}", DIMENSION), chunking=ChunkingSpec(64, 0))
    kb = KnowledgeBase.create(path, manifest)
    rng = np.random.default_rng(seed)
    centres = topic_centres(seed)
    write_files(kb, {f"/topic/{i}.txt": near(centres[i % TOPICS], per_file, rng) for i in range(files)}, policy)
    return kb
