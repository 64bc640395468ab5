"""Bounded loopback load on `llmapp serve`: N concurrent clients for S seconds on search and on chat
(extractive backend), then the same while an ingest job writes the knowledge base.

Reports, per phase: requests/s, p50/p95 latency, errors, and the server's resident memory (start, end, peak),
plus how long the concurrent ingest job took. The server runs in its own process (`llmapp serve`); the
knowledge base is built first with `llmapp ingest` (the shipped MiniLM by default).

    .venv/bin/python bench/serve_load.py                       # 16 clients x 60 s per phase, 4 phases
    .venv/bin/python bench/serve_load.py --seconds 10 --embedder hash
    .venv/bin/python bench/serve_load.py --corpus ../shared/corpus --ingest ../shared/eval/scifact/corpus.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
QUESTIONS = [
    "什么是AI大模型？", "深度学习如何推动科技革命？", "大模型的训练需要哪些数据？", "生成式人工智能有哪些应用？",
    "What is a large language model?", "How are transformers trained?", "What does fine-tuning change?",
    "模型参数量有多大？",
]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ingest_s: float | None = None

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        def pct(p: float) -> float:
            return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else 0.0
        return {"phase": self.name, "requests": len(ordered), "rps": round(len(ordered) / self.seconds, 1),
                "p50_ms": pct(0.50), "p95_ms": pct(0.95),
                "mean_ms": round(1000 * statistics.fmean(ordered), 1) if ordered else 0.0,
                "errors": len(self.errors), "first_error": self.errors[0] if self.errors else None,
                "rss_start_mb": self.rss_mb[0], "rss_end_mb": self.rss_mb[-1], "rss_peak_mb": max(self.rss_mb),
                "ingest_job_s": self.ingest_s}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_kb(home: Path, corpus: Path, embedder: str, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "llmapp", "ingest", str(corpus), "--kb", "bench", "--embedder", embedder, "-q"]
    subprocess.run(cmd, check=True, env=env, cwd=home)


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "llmapp", "serve", "--port", str(port), "--no-auth", "--backend", "extractive",
           "--log-level", "warning"]
    server = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not become ready in 300 s")


def request_for(kind: str, i: int) -> tuple[str, dict[str, Any]]:
    question = QUESTIONS[i % len(QUESTIONS)]
    if kind == "search":
        return "/kbs/bench/search", {"query": question, "k": 5}
    return "/v1/chat/completions", {"model": "kb:bench", "messages": [{"role": "user", "content": question}],
                                    "max_tokens": 200}


def run_phase(name: str, kind: str, url: str, clients: int, seconds: float, server: psutil.Process,
              ingest_files: list[Path] | None) -> Phase:
    phase = Phase(name)
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            i = number
            while not stop.is_set():
                path, body = request_for(kind, i)
                started = time.perf_counter()
                try:
                    response = http.post(path, json=body)
                    ok = response.status_code == 200 and (kind == "search" or response.json()["choices"])
                    error = None if ok else f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                with lock:
                    if error is None:
                        phase.latencies.append(time.perf_counter() - started)
                    else:
                        phase.errors.append(error)
                i += clients

    phase.rss_mb.append(server.memory_info().rss / 2**20)
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    job_thread = threading.Thread(target=_ingest_during, args=(url, ingest_files, phase)) if ingest_files else None
    if job_thread:
        job_thread.start()
    while time.perf_counter() - begin < seconds:
        time.sleep(1)
        phase.rss_mb.append(server.memory_info().rss / 2**20)
    stop.set()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - begin
    if job_thread:
        job_thread.join()
    phase.rss_mb.append(server.memory_info().rss / 2**20)
    return phase


def _ingest_during(url: str, files: list[Path], phase: Phase) -> None:
    started = time.perf_counter()
    upload = [("files", (path.name, path.read_bytes(), "application/octet-stream")) for path in files]
    with httpx.Client(base_url=url, timeout=600) as http:
        job = http.post("/kbs/bench/documents", files=upload).json()["job"]
        while (job := http.get(f"/jobs/{job['id']}").json())["status"] not in ("succeeded", "failed"):
            time.sleep(0.5)
    if job["status"] != "succeeded":
        phase.errors.append(f"ingest job failed: {job['error']}")
    phase.ingest_s = round(time.perf_counter() - started, 1)


def ingest_batches(source: Path, workdir: Path, docs: int) -> list[list[Path]]:
    """Two upload batches (one per 'during ingest' phase) of `docs` JSONL documents each."""
    lines = source.read_text(encoding="utf-8").splitlines()
    batches = []
    for b in range(2):
        path = workdir / f"ingest-{b}.jsonl"
        path.write_text("\n".join(lines[b * docs:(b + 1) * docs]) + "\n", encoding="utf-8")
        batches.append([path])
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus", help="Files of the served KB.")
    parser.add_argument("--ingest", type=Path, default=SHARED / "eval" / "scifact" / "corpus.jsonl",
                        help="JSONL corpus whose documents are uploaded during the 'while ingesting' phases.")
    parser.add_argument("--ingest-docs", type=int, default=1000, help="Documents uploaded per ingest phase.")
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = {**os.environ, "LLMAPP_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        build_kb(home, args.corpus, args.embedder, env)
        batches = ingest_batches(args.ingest, Path(tmp), args.ingest_docs)
        port = free_port()
        server = start_server(port, env)
        try:
            process = psutil.Process(server.pid)
            url = f"http://127.0.0.1:{port}"
            for kind in ("search", "chat"):  # warm up: the first request opens the retriever
                path, body = request_for(kind, 0)
                httpx.post(url + path, json=body, timeout=300).raise_for_status()
            plan = [("search", "search", None), ("chat", "chat", None),
                    ("search+ingest", "search", batches[0]), ("chat+ingest", "chat", batches[1])]
            for name, kind, files in plan:
                summary = run_phase(name, kind, url, args.clients, args.seconds, process, files).summary()
                print(json.dumps(summary, ensure_ascii=False), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
