"""`create_app(settings, server)`: the FastAPI app behind `llmapp serve`.

    GET  /healthz                       open; answers once the generator is loaded
    GET  /                              the web page (plain HTML/CSS/JS from llmapp/web)
    /v1/chat/completions, /v1/models, /v1/embeddings      OpenAI-compatible (routes_openai)
    /kbs, /kbs/{kb}, /kbs/{kb}/documents, /kbs/{kb}/search, /jobs/{id}   knowledge bases (routes_kb)
    /classify, /classifiers             batch labelling with the configured classifiers (routes_classify)

Everything but /healthz and the page's static files needs a key (see auth.py for the two scopes), checked by
`AccessGuard` before a body is read; the page is sent with a Content-Security-Policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from llmapp.generate import Generator, open_generator
from llmapp.server.chat import ServedGenerator
from llmapp.server.config import ServerSettings
from llmapp.server.errors import install_handlers
from llmapp.server.guard import AccessGuard
from llmapp.server.jobs import JobQueue
from llmapp.server.jobstore import JobStore
from llmapp.server.knowledge import KnowledgeBases
from llmapp.server.limits import BodyLimit
from llmapp.server.routes_classify import classify_router
from llmapp.server.routes_kb import kb_router
from llmapp.server.routes_openai import openai_router
from llmapp.server.state import ServerState
from llmapp.server.uploads import clean_incoming, step_for
from llmapp.settings import Settings
from llmcommon.version import package_version

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent.parent / "web"
VERSION = package_version()
JOBS_FILE = ".jobs.sqlite"
# The page loads its own script and style only, talks to its own origin only, and is never framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
}


def create_app(settings: Settings, server: ServerSettings | None = None,
               generator: Generator | None = None) -> FastAPI:
    """The app. `generator`: an already built one (tests pass a FakeGenerator); else `server.generator`
    is opened when the app starts, before /healthz answers."""
    server = server or ServerSettings()
    server.check_exposure()
    home = settings.home
    kbs = KnowledgeBases(settings, mode=server.mode, min_score=server.min_score)
    home.mkdir(parents=True, exist_ok=True)
    jobs = JobQueue(kept=server.limits.jobs_kept, mask=lambda text: text.replace(str(home), "$LLMAPP_HOME"),
                    store=JobStore(home / JOBS_FILE))
    state = ServerState(settings, server, kbs, jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ingest.trash import empty_trash

        empty_trash(home)  # what deletes killed mid-way left behind
        clean_incoming(home)  # uploads a killed server was still writing (never acknowledged)
        built = generator or open_generator(server.generator)
        state.served = ServedGenerator(built, model_id=_model_id(built),
                                       slots=threading.BoundedSemaphore(server.limits.max_generations))
        log.info("serving %s (%s) with knowledge bases under %s", state.served.model_id, built.name, home)
        if resumed := jobs.resume(step_for(kbs, server.limits)):
            log.info("resumed %d job(s) a previous run of the server left unfinished", resumed)
        yield
        jobs.shutdown(wait=True)  # a running ingest finishes its commit; queued ones are still run
        kbs.close()

    app = FastAPI(title="llmapp", version=VERSION, lifespan=lifespan,
                  description="Knowledge-base chat with citations: OpenAI-compatible API, knowledge-base API, "
                              "web page. See docs/server.md.")
    app.state.llmapp = state
    install_handlers(app, home)
    app.add_middleware(BodyLimit, limits=server.limits)  # type: ignore[arg-type]
    app.add_middleware(AccessGuard, server=server)  # type: ignore[arg-type]  # added last: runs first
    app.include_router(openai_router(state))
    app.include_router(kb_router(state))
    app.include_router(classify_router(state))
    _add_open_routes(app, state)
    return app


def _add_open_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/healthz", tags=["server"], summary="Ready check (no API key needed)")
    async def healthz() -> dict[str, Any]:  # on the event loop: answers while every worker thread is busy
        served = state.generator()
        return {"status": "ok", "version": VERSION, "model": served.model_id, "backend": served.generator.name,
                "auth": state.server.auth_required}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=WEB), name="static")


def _model_id(generator: Generator) -> str:
    """The id clients use for chat without retrieval: the model's file or folder name, never its path."""
    return Path(str(generator.model)).name or generator.name
