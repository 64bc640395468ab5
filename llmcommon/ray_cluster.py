"""Joining a Ray cluster, shared by the engines that run on Ray (`classify --engine ray`, `ingest --engine ray`)."""

from __future__ import annotations

from typing import Any


def connect(address: str | None) -> Any:
    """Ray, joined to the cluster at `address` (ray://HOST:10001, HOST:6379, 'auto') or a new local instance;
    an instance this process already joined (`ray.init` by the caller) is used as it is."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


def set_torch_threads(threads: int) -> None:
    """An actor's torch uses the CPUs Ray gave it, not every core of the node."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)
