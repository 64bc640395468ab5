"""Run the producer side of a pipeline (reading, tokenising) in a thread while the caller runs the model.

The fast tokenizers and torch both release the GIL, so tokenising window n+1 while window n is in the model
keeps both cores busy. Exceptions raised in the thread are re-raised in the consumer, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yields `items` in order, computing up to `depth` ahead in a background thread."""
    assert depth >= 1, f"depth must be >= 1, got {depth}"
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(ready, item, stop):
                    return
            _put(ready, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _put(ready, exc, stop)

    worker = threading.Thread(target=produce, name="llmapp-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Blocks until there is room, giving up (False) once the consumer has gone away."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
