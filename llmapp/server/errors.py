"""Every error leaves the server as `{"error": {"type": ..., "message": ...}}` with the right HTTP status.

Library exceptions (`llmcommon.errors.UserError`: llmapp's, ingest's and finetune's) carry messages written for
users, so they are passed on with the server's home folder masked, except the model server's failures
(`UpstreamError`), answered with a generic 502 and a request id; anything else is logged with its traceback
and answered with a generic 500 that names a request id to look up in the log, never the exception's text.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import KnowledgeBaseLocked, LoadError
from llmapp.errors import ConfigError, DependencyMissing, ModelError, NotFoundError, UpstreamError
from llmcommon.errors import UserError

log = logging.getLogger(__name__)

_STATUS_TYPES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                 422: "invalid_request", 429: "rate_limited", 502: "upstream_error", 503: "unavailable"}


class ApiError(Exception):
    """An error the server answers with as is: a status, a stable type and a message for the client."""

    def __init__(self, status: int, message: str, type_: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_ or _STATUS_TYPES.get(status, "error")
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After with a 429 or 503


def error_body(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message}}


def error_response(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(type_, message), status_code=status, headers=headers)


def from_library(exc: Exception, home: Path) -> ApiError:
    """The ApiError for a library exception, with paths under the server's home folder masked."""
    message = str(exc).replace(str(home), "$LLMAPP_HOME")
    if isinstance(exc, NotFoundError):
        return ApiError(404, message)
    if isinstance(exc, KnowledgeBaseLocked):
        return ApiError(409, "the knowledge base is being written by another process; try again when it is done")
    if isinstance(exc, (ConfigError, LoadError)):
        return ApiError(400, message)
    if isinstance(exc, DependencyMissing):
        return ApiError(503, message)
    if isinstance(exc, UpstreamError):
        return _upstream(exc)
    if isinstance(exc, ModelError):
        return ApiError(422, message, "model_error")
    if isinstance(exc, UserError):
        return ApiError(400, message)
    raise TypeError(f"not a library error: {type(exc).__name__}")


def _upstream(exc: UpstreamError) -> ApiError:
    """A 502 that says only that the model server failed: its answer (logged by the backend) and its URL stay
    in the server's log, under a request id the client can quote."""
    request_id = uuid.uuid4().hex[:12]
    log.warning("model server error (request id %s): %s", request_id, exc)
    return ApiError(502, f"the model server failed; the server log has the details (request id {request_id})",
                    "upstream_error")


def to_api_error(exc: Exception, home: Path) -> ApiError:
    """Any exception as the ApiError the client sees; unexpected ones are logged with their traceback."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UserError):
        return from_library(exc, home)
    request_id = uuid.uuid4().hex[:12]
    log.error("unexpected error (request id %s)", request_id, exc_info=exc)
    return ApiError(500, f"internal error; the server log has the details (request id {request_id})",
                    "internal_error")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for problem in exc.errors()[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def install_handlers(app: FastAPI, home: Path) -> None:
    """Register the handlers that turn every exception into the error shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(exc.status, exc.type, exc.message, headers)

    async def library_error(request: Request, exc: Exception) -> JSONResponse:
        return await api_error(request, from_library(exc, home))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return error_response(exc.status_code, _STATUS_TYPES.get(exc.status_code, "error"), message)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_request", _validation_message(exc))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.error("request %s %s failed (request id %s)", request.method, request.url.path, request_id,
                  exc_info=exc)
        return error_response(500, "internal_error", f"internal error; the server log has the details "
                                                     f"(request id {request_id})")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(UserError, library_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
