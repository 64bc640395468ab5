"""`ingest --engine ray`: the embedding step on a local Ray instance (2 CPUs) gives the knowledge base a local
ingest gives (chunk ids, vectors to 1e-5, search results), keeps the incremental contract, and a re-run after
an interrupted run embeds only what is missing."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.embed import HashEmbedder, SentenceTransformerEmbedder
from ingest.errors import IngestError
from ingest.pipeline import EMBED_GROUP, IngestOptions, ingest
from ingest.store import KnowledgeBase
from llmapp.retrieve import HybridRetriever
from tests.support.ingest_assertions import assert_consistent

ray = pytest.importorskip("ray")

WORDS = "river mountain lantern harbor copper meadow violin glacier orchard thunder".split()


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def corpus(folder: Path, files: int, seed: int = 0) -> Path:
    """Enough short paragraphs for several embedding groups (EMBED_GROUP chunks each)."""
    rng = np.random.default_rng(seed)
    for number in range(files):
        paragraphs = [" ".join(rng.choice(WORDS, size=12)) + f" {number}-{p}." for p in range(30)]
        (folder / f"f{number:03}.txt").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"f{number:03}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return folder


def options(engine: object = None) -> IngestOptions:
    return IngestOptions(progress=False, chunk_tokens=16, chunk_overlap=0, engine=engine)  # type: ignore[arg-type]


def content(kb: Path) -> tuple[list[int], list[str], np.ndarray]:
    with KnowledgeBase.open(kb).snapshot() as snap:
        ids, vectors = snap.vectors()
        records = snap.chunks(ids)
        return ids.tolist(), [records[int(i)].text for i in ids], vectors


@pytest.mark.parametrize("actors", [1, 2])
def test_ray_ingest_builds_the_knowledge_base_a_local_ingest_builds(cluster: None, tmp_path: Path,
                                                                     actors: int) -> None:
    from ingest.ray_embed import ray_embed_engine

    docs = corpus(tmp_path / "docs", 40)
    local = ingest(tmp_path / "local", [docs], HashEmbedder(32), options())
    remote = ingest(tmp_path / "ray", [docs], HashEmbedder(32), options(ray_embed_engine(actors=actors)))
    assert remote.texts_embedded == local.texts_embedded > 2 * EMBED_GROUP
    ours, theirs = content(tmp_path / "ray"), content(tmp_path / "local")
    assert ours[:2] == theirs[:2]
    assert np.allclose(ours[2], theirs[2], atol=1e-5)
    assert assert_consistent(tmp_path / "ray") == len(theirs[0])
    with KnowledgeBase.open(tmp_path / "ray").snapshot() as a, KnowledgeBase.open(tmp_path / "local").snapshot() as b:
        for query in ("river lantern", "copper glacier thunder 7-3", "violin 12-29"):
            got = HybridRetriever(a, HashEmbedder(32)).search(query, k=5)
            want = HybridRetriever(b, HashEmbedder(32)).search(query, k=5)
            assert [(h.chunk_id, round(h.score, 5)) for h in got] == [(h.chunk_id, round(h.score, 5)) for h in want]


def test_ray_ingest_is_incremental_and_resumes_without_re_embedding(cluster: None, tmp_path: Path) -> None:
    from ingest.ray_embed import ray_embed_engine

    docs = corpus(tmp_path / "docs", 12)
    engine = ray_embed_engine(actors=2)
    first = ingest(tmp_path / "kb", [docs], HashEmbedder(32), options(engine))
    assert ingest(tmp_path / "kb", [docs], HashEmbedder(32), options(engine)).texts_embedded == 0
    (docs / "f003.txt").write_text("One new paragraph about harbors and meadows.", encoding="utf-8")
    changed = ingest(tmp_path / "kb", [docs], HashEmbedder(32), options(engine))
    assert (changed.files_updated, changed.files_unchanged, changed.texts_embedded) == (1, 11, 1)
    assert first.files_added == 12 and assert_consistent(tmp_path / "kb") > 0

    calls: list[int] = []

    def dies_after_one_group(embedder: object, groups: list[list[str]], batch_size: int, progress: object
                             ) -> Iterator[np.ndarray]:
        for texts in groups:
            if calls:
                raise KeyboardInterrupt  # the run is interrupted after its first group was stored
            calls.append(len(texts))
            yield from engine(embedder, [texts], batch_size, progress)  # type: ignore[arg-type, operator]

    more = corpus(tmp_path / "more", 40, seed=5)
    with pytest.raises(KeyboardInterrupt):
        ingest(tmp_path / "kb", [more], HashEmbedder(32), options(dies_after_one_group))
    resumed = ingest(tmp_path / "kb", [more], HashEmbedder(32), options(engine))
    assert calls == [EMBED_GROUP] and resumed.files_added == 40
    alone = ingest(tmp_path / "alone", [more], HashEmbedder(32), options())
    assert resumed.texts_embedded == alone.texts_embedded - EMBED_GROUP
    assert assert_consistent(tmp_path / "kb") > 0


def test_a_sentence_transformer_embedder_travels_without_its_lock_and_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 8, "max_position_embeddings": 64}', encoding="utf-8")
    embedder = SentenceTransformerEmbedder(tmp_path, name="tiny")
    embedder._model = object()  # a loaded model is not shipped: each actor loads its own from the folder
    copy = pickle.loads(pickle.dumps(embedder))
    assert copy._model is None and copy.path == embedder.path and copy.name == "tiny"
    with copy._tokenizing:  # a working lock of its own
        assert copy._tokenizing is not embedder._tokenizing


def test_bad_actor_counts_are_refused() -> None:
    from ingest.ray_embed import ray_embed_engine

    with pytest.raises(IngestError, match="at least 1"):
        ray_embed_engine(actors=0)
