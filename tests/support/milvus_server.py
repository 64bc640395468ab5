"""A real `milvus-lite server` on loopback for the Milvus store tests (no mock): started once per session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_SECONDS = 60


def milvus_lite_binary() -> str | None:
    """`milvus-lite` next to the running Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "milvus-lite"
    return str(beside) if beside.is_file() else shutil.which("milvus-lite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    from pymilvus import MilvusClient

    from ingest.milvus.collections import GRPC_OPTIONS

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"milvus-lite exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            client = MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=2, dedicated=True,
                                  grpc_options=GRPC_OPTIONS)
            client.list_collections()
            client.close()  # an idle channel left open would ping the server into GOAWAY "too_many_pings"
            return
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.2)
    raise RuntimeError(f"milvus-lite did not answer on port {port} within {STARTUP_SECONDS}s: "
                       f"{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def milvus_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`127.0.0.1:PORT` of a milvus-lite server that lives for the test session."""
    pytest.importorskip("pymilvus")
    binary = milvus_lite_binary()
    if binary is None:
        pytest.skip("milvus-lite is not installed (pip install 'llmapp[scale]')")
    root = tmp_path_factory.mktemp("milvus")
    port = free_port()
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "server", "--data-dir", str(root / "data"), "--host", "127.0.0.1",
                                    "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, port, log)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
