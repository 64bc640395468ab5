"""`llmapp ingest --engine ray`: the embedding step on Ray Data actors, one per CPU; the driver writes.

    groups of chunk texts (the pipeline's EMBED_GROUP, shortest first, exactly as the local engine forms them)
        --from_items, one block per group--> map_batches(actors holding the embedder, one group per call)
        --> vectors, in group order --> the driver's loop in `ingest.pipeline` stores each group in the docstore

Only the embedding moves. Reading, chunking, the docstore, the index files and the write lock stay with the
driver, so the incremental contract (unchanged files embed nothing, changed files replace exactly their chunks)
and the resume guarantee (each group is stored as it arrives; a re-run embeds only what is missing) are the
local engine's, and the knowledge base is the same one: a group is embedded by the same `Embedder.embed` call
with the same texts and batch size on an actor as it would be locally.

The embedder is shipped to the actors without its loaded model (`SentenceTransformerEmbedder` drops it when
pickled), and each actor loads the model from the same folder: worker nodes need llmapp and the model folder
at the same path (or the same shipped model package).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ingest.embed import Embedder
from ingest.errors import IngestError
from llmcommon.ray_cluster import connect, set_torch_threads

log = logging.getLogger(__name__)

GROUP, TEXTS, VECTORS = "group", "texts", "vectors"
MISSING_RAY = "--engine ray needs Ray: pip install 'llmapp[scale]' (or pip install ray)"

# (embedder, groups of texts, batch size, progress callback) -> the vectors of each group, in order
EmbedEngine = Callable[[Embedder, Sequence[list[str]], int, Callable[[int], None]], Iterator[np.ndarray]]


class EmbedActor:
    """Holds one embedder; each call embeds whole groups, as the local engine would."""

    def __init__(self, embedder: Embedder, batch_size: int, threads: int) -> None:
        set_torch_threads(threads)
        self.embedder, self.batch_size = embedder, batch_size

    def __call__(self, batch: Any) -> Any:
        import pandas as pd

        vectors = [self.embedder.embed(list(texts), batch_size=self.batch_size).astype(np.float32).tobytes()
                   for texts in batch[TEXTS]]
        return pd.DataFrame({GROUP: batch[GROUP], VECTORS: vectors})


def ray_embed_engine(address: str | None = None, actors: int | None = None, cpus_per_actor: int = 1) -> EmbedEngine:
    """An `EmbedEngine` on `actors` Ray actors (default: one per CPU of the cluster)."""
    if actors is not None and actors < 1:
        raise IngestError(f"--actors must be at least 1, got {actors}")
    if importlib.util.find_spec("ray") is None:  # before any file is read, not after
        raise IngestError(MISSING_RAY)

    def run(embedder: Embedder, groups: Sequence[list[str]], batch_size: int,
            progress: Callable[[int], None]) -> Iterator[np.ndarray]:
        if not groups:
            return
        ray = _ray(address)
        count = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
        log.info("embedding %d groups on %d Ray actors (%d CPU each)", len(groups), count, cpus_per_actor)
        expected = 0
        for batch in _dataset(ray, embedder, groups, batch_size, count, cpus_per_actor).iter_batches(
                batch_size=None, batch_format="pandas"):
            for group, blob in zip(batch[GROUP], batch[VECTORS], strict=True):
                if int(group) != expected:  # preserve_order guarantees it; a silent mix-up would corrupt the KB
                    raise IngestError(f"Ray returned embedding group {group} where {expected} was due")
                expected += 1
                vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(groups[group]), embedder.dimension)
                progress(len(vectors))
                yield vectors

    return run


def _ray(address: str | None) -> Any:
    try:
        return connect(address)
    except ImportError:
        raise IngestError(MISSING_RAY) from None


def _dataset(ray: Any, embedder: Embedder, groups: Sequence[list[str]], batch_size: int, actors: int,
             cpus: int) -> Any:
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    items = [{GROUP: i, TEXTS: list(texts)} for i, texts in enumerate(groups)]
    # one block per group, so the groups spread over the actors instead of travelling as one bundle
    source = ray.data.from_items(items, override_num_blocks=len(items))
    return source.map_batches(EmbedActor, fn_constructor_args=(embedder, batch_size, cpus), batch_size=1,
                              batch_format="pandas", concurrency=actors, num_cpus=cpus)
