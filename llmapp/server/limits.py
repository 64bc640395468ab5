"""Request body limits, enforced while the body arrives (not after it has been buffered).

A declared Content-Length over the limit is refused before anything is read; a chunked or lying body is
counted as it streams and cut off with 413 at the first byte past the limit. Uploads (`POST
/kbs/{kb}/documents`) get the upload limit; every other request the much smaller body limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmapp.server.config import Limits
from llmapp.server.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


def is_upload(method: str, path: str) -> bool:
    parts = path.strip("/").split("/")
    return method == "POST" and len(parts) == 3 and parts[0] == "kbs" and parts[2] == "documents"


class BodyLimit:
    """ASGI middleware: 413 with the error shape when a request body exceeds its limit."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope["method"], scope["path"])
        limit = self.limits.max_upload_bytes if upload else self.limits.max_body_bytes
        what = "max_upload_bytes" if upload else "max_body_bytes"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit, what)
            return
        seen = 0
        started = over = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            # A framework that catches BodyTooLarge while parsing answers with its own error; answer 413 instead.
            nonlocal started
            if over:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(send, limit, what)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit, what)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int, what: str) -> None:
    body = json.dumps(error_body("too_large", f"request body over the server's {what} of {limit} bytes")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
