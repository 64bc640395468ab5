"""`FakeGenerator`: a deterministic stand-in for a language model, for tests and examples (like llama-index's
MockLLM). It needs no model and no network.

With `replies`, it answers with them in turn (cycling); without, it echoes the last user message. Either way
the reply is cut at `max_tokens` tokens (a token is a whitespace-separated word or one CJK character) and at
stop sequences, and streamed one token at a time. Every call is recorded in `calls`, so a test can check the
prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from llmapp.generate.base import GenerationOptions, Message, options_from, stop_at, validate_messages
from llmapp.generate.registry import GeneratorConfig
from llmcommon.cjk import IDEOGRAPHS

_TOKEN = re.compile(rf"[{IDEOGRAPHS}]|\S+\s*|\s+")


@dataclass
class FakeCall:
    messages: list[Message]
    options: GenerationOptions


@dataclass
class FakeGenerator:
    replies: list[str] | None = None
    context_window: int = 2048
    name: str = "fake"
    model: str = "fake"
    calls: list[FakeCall] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> FakeGenerator:
        return cls(context_window=config.context_window or 2048)

    def generate(self, messages: list[Message], **opts: Any) -> str:
        return "".join(self.stream(messages, **opts))

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        validate_messages(messages)
        options = options_from(opts)
        reply = self._reply(messages)
        self.calls.append(FakeCall(messages=[dict(m) for m in messages], options=options))  # type: ignore[misc]
        pieces = _TOKEN.findall(reply)
        kept: list[str] = []
        budget = options.max_tokens
        for piece in pieces:
            if piece.strip():
                if budget == 0:
                    break
                budget -= 1
            kept.append(piece)
        yield from stop_at(iter(kept), options.stop)

    def count_tokens(self, text: str) -> int:
        return sum(1 for piece in _TOKEN.findall(text) if piece.strip())

    def _reply(self, messages: list[Message]) -> str:
        if self.replies:
            return self.replies[len(self.calls) % len(self.replies)]
        users = [m["content"] for m in messages if m["role"] == "user"]
        return users[-1] if users else messages[-1]["content"]
