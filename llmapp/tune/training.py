"""Training the tuned embedder: the `embedding` fine-tuning job (finetune) on the mined triples.

The run folder is named after the knowledge base and a digest of the training data and settings, so running
`llmapp kb tune` again after a kill -9 finds the same folder and resumes from its last checkpoint, and a run
that already finished is reused as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmapp.errors import ConfigError
from llmapp.tune.negatives import Triple

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    """What the tuning job trains with. LoRA by default; `full=True` fine-tunes every weight."""

    full: bool = False
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float | None = None  # None: 2e-4 with LoRA, 2e-5 for full fine-tuning
    # Pseudo-queries are short; passages are cut to this in training only (search still embeds them whole).
    # 256 tokens made a 12-layer encoder's batch of 32 triples hold ~18 GB of activations; 128 stays under 3 GB.
    max_length: int = 128
    # GradCache mini-batches: a batch of 32 triples (96 texts) of a 12-layer encoder otherwise holds ~8 GB of
    # activations in bf16; 16 texts at a time stay near 1 GB, for ~25% more compute. 8: float32 training (where
    # bf16 is measured slower) holds twice the bytes a mini-batch; SciFact loop peak with 16: 3,017 MB.
    mini_batch_size: int | None = 8
    lora_r: int = 16
    # no dropout in the encoder or the adapter while tuning: on a CPU the masks cost 40% of a GradCache step
    # (drawn, then replayed) and 1.3 GB of peak memory (e5-small, batch 32: 30 s -> 18 s a step, 3.5 -> 2.2 GB)
    dropout: float = 0.0
    seed: int = 13
    save_steps: int = 50


def base_model(embedder_spec: dict[str, Any]) -> Path:
    """The weights folder of the knowledge base's embedder (what is tuned)."""
    path = embedder_spec.get("path")
    if not path or not Path(path).is_dir():
        raise ConfigError(f"the knowledge base's embedder {embedder_spec.get('name')!r} has no model folder to tune "
                          "(the hash embedder has no weights); ingest with a sentence-transformers embedder")
    return Path(path)


def job_dict(base: Path, data: Path, out: Path, options: TrainOptions) -> dict[str, Any]:
    rate = options.learning_rate or (2e-5 if options.full else 2e-4)
    lora = None if options.full else {"r": options.lora_r, "alpha": 2.0 * options.lora_r, "dropout": options.dropout}
    return {
        "task": "embedding", "base_model": str(base), "data": {"train": str(data), "validation_split": 0.05},
        "lora": lora, "output_dir": str(out),
        "train": {"epochs": options.epochs, "batch_size": options.batch_size, "learning_rate": rate,
                  "max_length": options.max_length, "seed": options.seed, "save_steps": options.save_steps,
                  "logging_steps": 10, "group_by_length": False, "warmup_ratio": 0.1,
                  "mini_batch_size": options.mini_batch_size, "dropout": options.dropout},
    }


def run_folder(runs: Path, kb_name: str, triples: Sequence[Triple], base: Path, options: TrainOptions) -> Path:
    digest = hashlib.sha256(json.dumps([str(base), asdict(options), [asdict(t) for t in triples]],
                                       ensure_ascii=False).encode()).hexdigest()[:12]
    return runs / f"tune-{kb_name}-{digest}"


def write_triples(path: Path, triples: Sequence[Triple]) -> None:
    rows = [{"query": t.query, "positive": t.positive, **({"negative": t.negative} if t.negative else {})}
            for t in triples]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def train_embedder(base: Path, triples: Sequence[Triple], run_dir: Path, options: TrainOptions) -> Path:
    """Trains (or resumes, or reuses) the run in `run_dir`; returns the tuned SentenceTransformer folder."""
    from finetune import rundir
    from finetune.config import parse_job
    from finetune.runner import run_job

    if len(triples) < 8:
        raise ConfigError(f"only {len(triples)} training examples: too few to tune on (a bigger knowledge base, "
                          "or more queries with --queries, would give more)")
    manifest = run_dir / rundir.MANIFEST
    if manifest.is_file() and rundir.read_json(manifest).get("status") == "finished":
        log.info("reusing the finished run %s", run_dir)
        return run_dir / rundir.MODEL
    data = run_dir.parent / f"{run_dir.name}.train.jsonl"
    write_triples(data, triples)
    job = parse_job(job_dict(base, data, run_dir, options), run_dir.parent, "kb tune")
    resume = rundir.last_checkpoint(run_dir) is not None
    if resume:
        log.info("resuming the interrupted run %s", run_dir)
    run_job(job, resume=resume)
    return run_dir / rundir.MODEL
