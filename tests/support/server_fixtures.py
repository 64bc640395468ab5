"""A real uvicorn server on 127.0.0.1 and a free port, in a thread, for the server tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ingest.embed import HashEmbedder
from ingest.pipeline import IngestOptions, ingest

API_KEY = "test-key-0123456789"
DOCS = {
    "install.md": "# Install\n\nInstall llmapp with pip. The wheel needs Python 3.10 or newer.\n\n"
                  "# GPU\n\nDoes llmapp need a GPU? No. Everything runs on a CPU; a GPU only makes it faster.\n",
    "cats.txt": "Cats sleep most of the day and hunt at dusk. A cat purrs when it is content.\n",
    "熊猫.txt": "熊猫主要以竹子为食，生活在四川的山区。\n\n长城是中国古代的军事防御工程。\n",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(app: Any, timeout: float = 60.0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def build_hash_kb(home: Path, name: str = "handbook", docs: dict[str, str] | None = None) -> Path:
    """A knowledge base under `home` built through the real pipeline with the hash embedder."""
    folder = home.parent / f"{name}-docs"
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in (docs or DOCS).items():
        (folder / file).write_text(text, encoding="utf-8")
    kb = home / name
    ingest(kb, [folder], HashEmbedder(64), IngestOptions(progress=False))
    return kb


@contextmanager
def extractive_server(home: Path) -> Iterator[str]:
    """A keyed server (API_KEY) with the extractive generator over a hash-embedder `handbook` knowledge base under
    `home`: what the official-client tests point their SDKs at. Yields the base URL."""
    from pydantic import SecretStr

    from llmapp.generate import ExtractiveGenerator
    from llmapp.server import ServerSettings, create_app
    from llmapp.settings import Settings

    home.mkdir(parents=True, exist_ok=True)
    build_hash_kb(home)
    app = create_app(Settings(home=home), ServerSettings(api_key=SecretStr(API_KEY)), generator=ExtractiveGenerator())
    with running(app) as url:
        yield url


def sse_events(response: httpx.Response) -> list[Any]:
    """Parse an SSE stream as an OpenAI client does: `data: ...` lines, up to `data: [DONE]`."""
    events: list[Any] = []
    for line in response.iter_lines():
        if not line.startswith("data: "):
            assert line == "", f"unexpected SSE line {line!r}"
            continue
        payload = line[len("data: "):]
        if payload == "[DONE]":
            events.append("[DONE]")
            break
        events.append(json.loads(payload))
    return events


def wait_job(client: httpx.Client, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")
