"""A CPU training run gives freed heap memory back after every step (glibc keeps it otherwise); a GPU run does not
pay for the trim."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from finetune.training import HeapTrimCallback, _callbacks
from llmcommon.heap import release_free_memory


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def fragmented_heap() -> list[bytes]:
    """~300 MB of 1 KB blocks freed with every tenth kept, so free() alone cannot shrink the heap."""
    blocks = [bytes(1000) + bytes([i % 251]) for i in range(300_000)]
    kept = blocks[::10]
    del blocks
    return kept


@pytest.mark.skipif(not Path("/proc/self/status").is_file() or not release_free_memory(),
                    reason="needs Linux with glibc")
@pytest.mark.parametrize(("device", "trims"), [("cpu", True), ("cuda", False)])
def test_each_cpu_step_returns_the_freed_heap(device: str, trims: bool) -> None:
    callback = HeapTrimCallback()
    args = SimpleNamespace(device=torch.device(device))
    callback.on_train_begin(args, None, None)
    kept = fragmented_heap()
    before = resident_mb()
    callback.on_step_end(args, None, None)
    returned = before - resident_mb()
    assert (returned > 100) is trims, f"{device}: {returned:.0f} MB returned"
    assert len(kept) == 30_000


def test_every_job_trains_with_the_trim() -> None:
    job = SimpleNamespace(train=SimpleNamespace(early_stopping_patience=None))
    assert any(isinstance(c, HeapTrimCallback) for c in _callbacks(job, Path("."), "loss"))  # type: ignore[arg-type]
