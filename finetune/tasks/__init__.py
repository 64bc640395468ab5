"""Task registry: each task is one module, registered here explicitly."""

from __future__ import annotations

from finetune.errors import JobConfigError
from finetune.tasks.base import Task


def get_task(name: str) -> Task:
    """The task object for a job's `task:` value (imported on demand: each pulls in its own libraries)."""
    if name == "classification":
        from finetune.tasks.classification import TASK as classification

        return classification
    if name == "seq2seq":
        from finetune.tasks.seq2seq import TASK as seq2seq

        return seq2seq
    if name == "causal":
        from finetune.tasks.causal import TASK as causal

        return causal
    if name == "embedding":
        from finetune.tasks.embedding import TASK as embedding

        return embedding
    raise JobConfigError(f"unknown task {name!r}; use one of: {', '.join(TASK_NAMES)}")


TASK_NAMES = ("classification", "seq2seq", "causal", "embedding")
