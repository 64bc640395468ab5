"""A small real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions wire format, streaming included.

It answers every chat request with `reply` (streamed as several SSE chunks when asked), lists `models`, can
fail the first `fail_first` requests with 503 + Retry-After: 0 (to exercise retries), and records every
request (path, headers, JSON body) for the test to inspect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StubState:
    reply: str = "The answer is in the passages [1]."
    models: list[str] = field(default_factory=lambda: ["stub-model"])
    fail_first: int = 0
    status: int = 200  # answer with this status instead (e.g. 401)
    error_message: str = "refused"  # the message of that error answer
    requests: list[dict[str, Any]] = field(default_factory=list)


def _chunks(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    state: StubState  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        return

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.state.models]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self._record(body)
        if self.state.fail_first > 0:
            self.state.fail_first -= 1
            self._json(503, {"error": {"message": "busy"}}, {"Retry-After": "0"})
            return
        if self.state.status != 200:
            self._json(self.state.status, {"error": {"message": self.state.error_message}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found"}})
        elif body.get("stream"):
            self._stream(body)
        else:
            message = {"role": "assistant", "content": self.state.reply}
            self._json(200, {"id": "c1", "object": "chat.completion", "model": body.get("model"),
                             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    def _stream(self, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
        events = [first] + [{"choices": [{"index": 0, "delta": {"content": piece}}]}
                            for piece in _chunks(self.state.reply)]
        for event in events:
            self._chunk(f": keep-alive\n\ndata: {json.dumps(event)}\n\n")
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: dict[str, Any] | None) -> None:
        self.state.requests.append({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})


@contextmanager
def openai_stub(state: StubState | None = None) -> Iterator[tuple[str, StubState]]:
    """(base_url, state) of a server running for the duration of the block."""
    state = state or StubState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()
