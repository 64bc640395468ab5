"""Training step time of a `lora.top_layers` classification job: the default attention kernel (sdpa) against
eager attention, each with and without `lora.cache_frozen`, on the same batches in one process.

    .venv/bin/python bench/frozen_layers.py examples/finetune/chnsenticorp-lora.yaml
    .venv/bin/python bench/frozen_layers.py JOB.yaml --rows 320 --rounds 3

The job's model, LoRA settings, `train.dropout` and `max_length` are used; its rows are sorted by length and
cut into batches of `train.batch_size`. Each round times one pass over the batches per variant (a cached
variant fills its cache in an untimed pass first, as the first epoch does); the best round is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _batches(job: Any, rows: int) -> tuple[Any, list[Any]]:
    from finetune.models import resolve_base_model, set_dropout
    from finetune.runner import load_splits
    from finetune.tasks import get_task

    task = get_task("classification")
    splits = load_splits(job, task)
    prepared = task.prepare(job, resolve_base_model(job.base_model), splits.train_records[:rows],
                            splits.validation_records[:8])
    if job.train.dropout is not None:
        set_dropout(prepared.model, job.train.dropout)
    features = sorted((prepared.train[i] for i in range(len(prepared.train))), key=lambda f: len(f["input_ids"]))
    size = job.train.batch_size
    return prepared.model, [prepared.collator(features[i : i + size]) for i in range(0, len(features), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", type=Path, help="a classification job with lora.top_layers")
    parser.add_argument("--rows", type=int, default=320, help="training rows timed (default 320)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    from finetune.config import load_job
    from finetune.frozen_cache import backbone_of, frozen_layer_cache
    from finetune.lora import layer_count
    from finetune.training import use_bf16

    job = load_job(args.job)
    if job.lora is None or job.lora.top_layers is None:
        sys.exit(f"{args.job}: the benchmark needs a job with lora.top_layers")
    model, batches = _batches(job, args.rows)
    model.train()
    base = model.get_base_model()
    first = (layer_count(backbone_of(model).config) or 0) - job.lora.top_layers
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    bf16 = use_bf16(job.train.bf16)

    def one_pass() -> float:
        started = time.perf_counter()
        for batch in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return (time.perf_counter() - started) / len(batches)

    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for attention in ("sdpa", "eager"):
            base.set_attn_implementation(attention)
            best[attention, "plain"] = min(best.get((attention, "plain"), 1e9), one_pass())
            with frozen_layer_cache(model, first):
                one_pass()  # fills the cache, as the first epoch does
                best[attention, "cached"] = min(best.get((attention, "cached"), 1e9), one_pass())
    baseline = best["sdpa", "plain"]
    print(f"{len(batches)} batches of {job.train.batch_size} rows, top {job.lora.top_layers} layers adapted, "
          f"bf16 {bf16}; seconds a step (best of {args.rounds})")
    for (attention, variant), seconds in best.items():
        print(f"  {attention:5s} {variant:6s} {seconds:.3f} s  {baseline / seconds:.2f}x")


if __name__ == "__main__":
    main()
