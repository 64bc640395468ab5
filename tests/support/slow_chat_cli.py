"""`llmapp` with one more backend, "slow": a `FakeGenerator` that takes 50 ms per token, its first answer 400
tokens long (20 s), its next ones short. The Ctrl-C test runs it as a real process and sends it SIGINT.

    python -m tests.support.slow_chat_cli chat --kb KB --backend slow ...
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from llmapp.cli import app
from llmapp.generate import FakeGenerator, GeneratorConfig
from llmapp.generate.base import Message
from llmapp.generate.registry import register_backend

TOKEN_S = 0.05
LONG_REPLY = " ".join(["slowly"] * 400)


class SlowGenerator(FakeGenerator):
    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        for piece in super().stream(messages, **{**opts, "max_tokens": 1000}):
            time.sleep(TOKEN_S)
            yield piece


def slow_generator(config: GeneratorConfig) -> SlowGenerator:
    return SlowGenerator(replies=[LONG_REPLY, "Yes, on a CPU [1]."], name="slow", model="slow")


if __name__ == "__main__":
    register_backend("slow", slow_generator)
    app()
