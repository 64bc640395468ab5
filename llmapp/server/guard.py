"""`AccessGuard`: the first thing every HTTP request meets, before FastAPI reads a byte of its body.

In order: the Host header must name this server (a DNS-rebinding page on evil.example that resolves to
127.0.0.1 sends `Host: evil.example`), a browser's cross-site request is refused (a form on another site posting
files to the loopback server sends a foreign `Origin`), the key must grant the route's scope, and the number of
requests in flight is bounded (uploads separately, as each may spool up to `max_upload_bytes`). Refusals use
the error shape; 429 and 503 carry Retry-After.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from llmapp.server.auth import Keys, required_scope
from llmapp.server.config import ServerSettings
from llmapp.server.errors import ApiError, error_body
from llmapp.server.limits import is_upload

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def host_name(host_header: str) -> str:
    """`example.com:8000` -> `example.com`, `[::1]:8000` -> `::1`; lower case, no trailing dot."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0].rstrip(".") if value.count(":") == 1 else value.rstrip(".")


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class AccessGuard:
    """ASGI middleware: Host, Origin, key scope and concurrency, checked on the headers alone."""

    def __init__(self, app: ASGIApp, server: ServerSettings) -> None:
        self.app = app
        self.keys = Keys(server.api_key, server.chat_key)
        self.allowed = frozenset(h.lower().rstrip(".") for h in server.allowed_hosts)
        bound = server.host.strip("[]").lower()
        self.any_host = bound in _WILDCARDS and not self.allowed  # a key is required there (check_exposure)
        if bound not in _WILDCARDS:
            self.allowed |= {bound}
        self.limits = server.limits
        self.in_flight = 0
        self.uploads = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method, path = scope["method"], scope["path"]
        try:
            self._check_host(headers.get("host", ""))
            self._check_origin(method, headers)
            self.keys.check(required_scope(method, path), headers.get("authorization", ""))
        except ApiError as refused:
            await _answer(send, refused)
            return
        if path == "/healthz":  # answers even when the server is saturated
            await self.app(scope, receive, send)
            return
        await self._bounded(scope, receive, send, is_upload(method, path))

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, upload: bool) -> None:
        if self.in_flight >= self.limits.max_concurrent:
            await _answer(send, ApiError(503, f"the server is serving max_concurrent={self.limits.max_concurrent} "
                                              "requests; try again shortly"), retry_after=1)
            return
        if upload and self.uploads >= self.limits.max_concurrent_uploads:
            await _answer(send, ApiError(429, f"max_concurrent_uploads={self.limits.max_concurrent_uploads} "
                                              "uploads are being received; try again shortly"), retry_after=2)
            return
        self.in_flight += 1
        self.uploads += upload
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.uploads -= upload

    def _check_host(self, header: str) -> None:
        name = host_name(header)
        if self.any_host or is_loopback_name(name) or name in self.allowed:
            return
        raise ApiError(421, f"Host {header!r} is not a name of this server; add it with --allowed-host if it "
                            "should be (a page on another site that resolves to this address is refused)",
                       "misdirected_request")

    def _check_origin(self, method: str, headers: dict[str, str]) -> None:
        origin = headers.get("origin")
        if origin is not None:
            if urlsplit(origin).netloc.lower() != headers.get("host", "").strip().lower():
                raise ApiError(403, f"cross-site request from {origin!r} refused: the API answers its own page "
                                    "and non-browser clients only", "forbidden")
        elif method not in _SAFE_METHODS and headers.get("sec-fetch-site") == "cross-site":
            raise ApiError(403, "cross-site request refused", "forbidden")


async def _answer(send: Send, error: ApiError, retry_after: int | None = None) -> None:
    body = json.dumps(error_body(error.type, error.message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    headers.append((b"connection", b"close"))  # the request's body, if any, is never read
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
