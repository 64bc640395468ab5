"""Who may call what: two bearer keys with scopes, compared in constant time.

The admin key (`api_key`) may do everything; the chat key (`chat_key`) may chat, search, embed, classify and
read, but not create or delete knowledge bases or upload and delete documents. `/healthz`, the page and its
static files stay open. The check runs in `AccessGuard` (ASGI), before any request body is read.
"""

from __future__ import annotations

import hmac
from typing import Literal

from pydantic import SecretStr

from llmapp.server.errors import ApiError

Scope = Literal["open", "chat", "admin"]


def required_scope(method: str, path: str) -> Scope:
    """The scope a request needs, from its method and path alone."""
    parts = [p for p in path.split("/") if p]
    if path in ("/", "/healthz") or (parts and parts[0] == "static"):
        return "open"
    if parts and parts[0] == "kbs":
        writes = {("POST", 1), ("DELETE", 2), ("POST", 3), ("DELETE", 4)}
        if (method, len(parts)) in writes and (len(parts) < 3 or parts[2] == "documents"):
            return "admin"
    return "chat"


class Keys:
    """The configured keys; `granted(header)` is the scope a request's Authorization header carries."""

    def __init__(self, api_key: SecretStr | None, chat_key: SecretStr | None) -> None:
        self.admin = api_key.get_secret_value().encode() if api_key is not None else None
        self.chat = chat_key.get_secret_value().encode() if chat_key is not None else None

    @property
    def open(self) -> bool:
        return self.admin is None and self.chat is None

    def granted(self, header: str) -> Scope:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing API key: send the header 'Authorization: Bearer <key>'")
        given = token.strip().encode()
        # both comparisons always run, so the time taken does not tell which key came close
        is_admin = self.admin is not None and hmac.compare_digest(given, self.admin)
        is_chat = self.chat is not None and hmac.compare_digest(given, self.chat)
        if is_admin:
            return "admin"
        if is_chat:
            return "chat"
        raise ApiError(401, "the API key is not valid")

    def check(self, needed: Scope, header: str) -> None:
        """Raise 401 (no or bad key) or 403 (the chat key on an admin route) unless `header` grants `needed`."""
        if needed == "open" or self.open:
            return
        if self.granted(header) == "chat" and needed == "admin":
            raise ApiError(403, "this needs the admin key (uploads, deletes and new knowledge bases); the chat "
                                "key may only chat, search and read")
