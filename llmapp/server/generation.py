"""One chat's generation: a bounded slot, a thread, and a stop signal for when the client goes away.

At most `max_generations` chats generate or wait for the generator at once; the next gets 429 with
Retry-After instead of a worker thread that blocks until the server stalls. Generation runs in its own daemon
thread and hands answers over a queue; when the client disconnects (a stream is cancelled, or a non-streaming
caller hangs up) `cancel` is set and the thread stops at the next piece, closing the backend's stream.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request

from llmapp.chains import Answer
from llmapp.server.errors import ApiError

_DONE = object()
RETRY_AFTER_S = 2


def take_slot(slots: threading.BoundedSemaphore, limit: int) -> None:
    """Take a generation slot now or answer 429; the slot is given back when the generation thread ends."""
    if not slots.acquire(blocking=False):
        raise ApiError(429, f"max_generations={limit} chats are generating or waiting; try again shortly",
                       retry_after=RETRY_AFTER_S)


class Generation:
    """Iterate `run()` in a daemon thread (under `lock` if given); errors are re-raised to the reader."""

    def __init__(self, run: Callable[[], Iterator[Answer]], lock: threading.Lock | None,
                 slots: threading.BoundedSemaphore | None = None) -> None:
        self.cancel = threading.Event()
        self._handoff: queue.Queue[Any] = queue.Queue()
        self._run, self._lock, self._slots = run, lock, slots
        threading.Thread(target=self._produce, name="generation", daemon=True).start()

    def _produce(self) -> None:
        guard: AbstractContextManager[Any] = self._lock if self._lock is not None else nullcontext()
        try:
            with guard:
                answers = self._run()
                try:
                    for answer in answers:
                        if self.cancel.is_set():
                            break
                        self._handoff.put(answer)
                finally:
                    answers.close()  # type: ignore[attr-defined]  # stops the backend's stream too
        except BaseException as exc:  # handed to the consumer, which raises it in the request
            self._handoff.put(exc)
        finally:
            if self._slots is not None:
                self._slots.release()
            self._handoff.put(_DONE)

    def answers(self) -> Iterator[Answer]:
        try:
            while (item := self._handoff.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancel.set()  # a reader that stops early (or is closed) stops the generation


async def stream_until_disconnect(events: Iterator[str], cancel: threading.Event) -> AsyncIterator[str]:
    """The SSE events for StreamingResponse; a cancelled or failed send (the client left) sets `cancel`."""
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        cancel.set()


async def last_answer(generation: Generation, request: Request, poll_s: float = 0.25) -> Answer | None:
    """The final answer of a non-streaming chat, watching for the client hanging up meanwhile."""
    task = asyncio.ensure_future(run_in_threadpool(_last, generation.answers()))
    while not task.done():
        await asyncio.wait({task}, timeout=poll_s)
        if not task.done() and await request.is_disconnected():
            generation.cancel.set()
    return task.result()


def _last(answers: Iterator[Answer]) -> Answer | None:
    final = None
    for answer in answers:
        final = answer
    return final
