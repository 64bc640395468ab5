"""`llmapp classify --engine ray`: the same batch function on Ray Data actors, one per CPU (or GPU).

    input file --(one read task on the driver's node)--> windows of rows
        --map_batches(actors holding the scorer, `classify_rows`)--> output records, in input order
        --> the driver's loop in `llmapp.classify.job` writes, fsyncs and records progress

Only the scoring moves: the driver still owns the output file and the progress file, so the resume guarantee
is the local one (every row exactly once after a kill) and a run may even resume on the other engine. The
order is kept (`preserve_order`), so each batch the driver receives is the next run of input rows.

The scorer built on the driver is shipped to the actors through Ray's object store (weights included), so
worker nodes need llmapp installed but not the model folder. The read task is pinned to the driver's node
(with `ray://`, the head node): the input file must be readable there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmapp.classify.job import Engine, Scored, windows
from llmapp.classify.rows import BatchScorer, OutputSpec, classify_rows
from llmapp.classify.tables import Row, open_reader
from llmapp.errors import ConfigError, DependencyMissing
from llmcommon.ray_cluster import connect, set_torch_threads

try:
    from ray.data.datasource import Datasource
except ImportError:
    raise DependencyMissing("--engine ray needs Ray: pip install 'llmapp[scale]' (or pip install ray)") from None

logger = logging.getLogger(__name__)

ROW, RECORD = "row", "record"  # the one column of the blocks going in and coming out


class RowSource(Datasource):  # type: ignore[misc]
    """A Ray Data datasource: the input file's rows from `start` on, one pandas block per window."""

    def __init__(self, path: Path, start: int, window: int) -> None:
        super().__init__()
        self.path, self.start, self.window = path, start, window

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[Any]:
        from ray.data.block import BlockMetadata
        from ray.data.datasource import ReadTask

        # one task: rows are numbered by a sequential scan, and a single reader keeps them in order
        metadata = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=(str(self.path),))
        return [ReadTask(self.read, metadata)]

    def read(self) -> Iterator[Any]:
        import itertools

        import pandas as pd

        rows = itertools.islice(open_reader(self.path).rows(), self.start, None)
        for window in windows(rows, self.window):
            yield pd.DataFrame({ROW: [(row.number, row.values, row.error) for row in window]})


class ClassifyActor:
    """Holds one scorer; each call turns one window of rows into output records (`classify_rows`)."""

    def __init__(self, scorer: BatchScorer, spec: OutputSpec, names: dict[str, str], batch_size: int,
                 threads: int) -> None:
        set_torch_threads(threads)
        self.scorer, self.spec, self.names, self.batch_size = scorer, spec, names, batch_size

    def __call__(self, batch: Any) -> Any:
        import pandas as pd

        rows = [Row(number, values, error) for number, values, error in batch[ROW]]
        return pd.DataFrame({RECORD: classify_rows(self.scorer, rows, self.spec, self.names, self.batch_size)})


def ray_engine(
    scorer: BatchScorer, spec: OutputSpec, batch_size: int = 64, window: int = 2048, actors: int | None = None,
    address: str | None = None, cpus_per_actor: int = 1,
) -> Engine:
    """An `Engine` scoring on `actors` Ray actors (default: one per CPU of the cluster)."""

    def run(input_path: Path, start: int, names: dict[str, str]) -> Iterator[Scored]:
        ray = connect(address)
        count = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
        logger.info("classifying on %d Ray actors (%d CPU each)", count, cpus_per_actor)
        dataset = _pipeline(ray, RowSource(input_path, start, window), count, cpus_per_actor,
                            (scorer, spec, names, batch_size, cpus_per_actor), window)
        status, error = names["status"], names["error"]
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            records = list(batch[RECORD])
            yield Scored(records, [r[error] for r in records if r[status] != "ok"])

    return run


def _pipeline(ray: Any, source: RowSource, actors: int, cpus: int, args: tuple[Any, ...], window: int) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if actors < 1:
        raise ConfigError(f"--actors must be at least 1, got {actors}")
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    # the reader needs no CPU of its own: it would otherwise hold back one actor on a small machine. Ray Data
    # splits its windows into smaller blocks and map_batches regroups them: with override_num_blocks=1 the
    # whole read went to one actor as one bundle.
    rows = ray.data.read_datasource(source, num_cpus=0, ray_remote_args={"scheduling_strategy": here})
    return rows.map_batches(ClassifyActor, fn_constructor_args=args, batch_size=window, batch_format="pandas",
                            concurrency=actors, num_cpus=cpus)
