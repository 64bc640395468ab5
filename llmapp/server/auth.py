"""Bearer API keys, compared in constant time. `/healthz` and the web page's static files stay open."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request
from pydantic import SecretStr

from llmapp.server.errors import ApiError


def bearer_guard(api_key: SecretStr | None) -> Callable[[Request], None]:
    """A FastAPI dependency that refuses requests without `Authorization: Bearer <api_key>`.

    With no key configured (allowed on loopback only, see ServerSettings.check_exposure) it lets all through.
    """
    expected = api_key.get_secret_value().encode() if api_key is not None else None

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "missing API key: send the header 'Authorization: Bearer <key>'")
        if not hmac.compare_digest(token.strip().encode(), expected):
            raise ApiError(401, "the API key is not valid")

    return check
