"""The generator contract: `generate(messages, **options) -> str`, `stream(...) -> Iterator[str]`.

A message is `{"role": "system" | "user" | "assistant", "content": str}`, as in every chat API. Options
are the fields of `GenerationOptions`; an unknown option is an error, not silently ignored. Every generator
also says how large its context window is and counts tokens, so the QA chain can pack passages into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from llmapp.errors import ConfigError
from llmcommon.cjk import count_ideographs

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """What every backend understands. Temperature 0 means greedy decoding (deterministic)."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    repetition_penalty: float = 1.0  # > 1 discourages repeating tokens (small models loop without it)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, got {self.temperature}")
        if not 1.0 <= self.repetition_penalty <= 2.0:
            raise ConfigError(f"repetition_penalty must be between 1 and 2, got {self.repetition_penalty}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")


def options_from(opts: dict[str, Any], base: GenerationOptions | None = None) -> GenerationOptions:
    """`GenerationOptions` from keyword options; names the valid ones when one is unknown."""
    known = {f.name for f in fields(GenerationOptions)}
    unknown = sorted(set(opts) - known)
    if unknown:
        valid = ", ".join(sorted(known))
        raise ConfigError(f"unknown generation option(s) {', '.join(unknown)}; valid: {valid}")
    given = {key: value for key, value in opts.items() if value is not None}
    if "stop" in given:
        stop = given["stop"]
        given["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
    return replace(base or GenerationOptions(), **given)


@runtime_checkable
class Generator(Protocol):
    """What the chains need from a backend."""

    name: str  # backend name, e.g. "llamacpp"
    model: str  # what it runs, for display and --json output
    context_window: int  # tokens the model reads at once (prompt + answer)

    def generate(self, messages: list[Message], **opts: Any) -> str: ...

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class PassageAnswerer(Protocol):
    """A backend that answers from the passages themselves rather than from a prompt (e.g. `extractive`).

    The QA chain calls `answer` instead of rendering the QA prompt when a generator offers it.
    """

    def answer(self, question: str, passages: list[str], **opts: Any) -> Iterator[str]: ...


def validate_messages(messages: list[Message]) -> None:
    if not messages:
        raise ConfigError("no messages to generate from")
    for i, message in enumerate(messages):
        role_ok = message.get("role") in ("system", "user", "assistant")
        if not role_ok or not isinstance(message.get("content"), str):
            shape = "{'role': 'system'|'user'|'assistant', 'content': str}"
            raise ConfigError(f"message {i} must be {shape}, got {message!r}")


def stop_at(pieces: Iterable[str], stop: tuple[str, ...]) -> Iterator[str]:
    """Pass text pieces through until a stop sequence appears, which may be split across pieces.

    Only text that could be the start of a stop sequence is held back, so pieces usually pass unchanged.
    """
    if not stop:
        yield from pieces
        return
    pending = ""
    for piece in pieces:
        pending += piece
        cut = _first_stop(pending, stop)
        if cut is not None:
            if pending[:cut]:
                yield pending[:cut]
            return
        held = _partial_stop(pending, stop)
        if len(pending) > held:
            yield pending[: len(pending) - held]
            pending = pending[len(pending) - held :]
    if pending:
        yield pending


def _first_stop(text: str, stop: tuple[str, ...]) -> int | None:
    found = [i for i in (text.find(s) for s in stop) if i >= 0]
    return min(found) if found else None


def _partial_stop(text: str, stop: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that begins some stop sequence."""
    longest = min(len(text), max(len(s) for s in stop) - 1)
    for size in range(longest, 0, -1):
        if any(s.startswith(text[-size:]) for s in stop):
            return size
    return 0


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, one per ~4 other characters."""
    cjk = count_ideographs(text)
    return cjk + (len(text) - cjk + 3) // 4
