"""Soak test on loopback: 16 clients chat and search while uploads and deletes run, and the server is killed
with SIGKILL and restarted twice. Bounded in time; every request goes to 127.0.0.1.

At the end (after the last restart has finished the resumed jobs) it checks and prints:
  - acknowledged uploads lost: every upload answered 202 and not deleted later is listed and searchable;
  - responses 5xx: must be 0 (a refused connection while the server is down is counted apart, not as a 5xx);
  - consistency: the knowledge base's chunks, vectors and listed documents agree.

    .venv/bin/python bench/soak.py                    # 90 s, 16 clients, kills at 1/3 and 2/3
    .venv/bin/python bench/soak.py --seconds 30 --clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

KEY = "soak-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTIONS = ["What do otters eat?", "熊猫吃什么？", "How do volcanoes form?", "长城有多长？"]
SEED_DOCS = {
    "otters.txt": "Sea otters eat sea urchins, crabs and clams. They hold hands while sleeping.",
    "pandas.txt": "熊猫主要以竹子为食，生活在四川的山区。",
    "volcanoes.txt": "Volcanoes form where tectonic plates pull apart or one dives under another.",
    "wall.txt": "长城全长两万多公里，是中国古代的军事防御工程。",
}


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    down: int = 0  # connection refused/reset while the server was being killed and restarted
    acked: dict[str, str] = field(default_factory=dict)  # upload name -> its unique token
    deleted: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.down += 1
            else:
                self.statuses[status] += 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "llmapp", "serve", "--port", str(port), "--backend", "extractive",
           "--log-level", "warning", "--max-generations", "32"]
    server = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not become ready in 120 s")


def call(client: httpx.Client, tally: Tally, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError:
        tally.record(None)
        time.sleep(0.2)
        return None
    tally.record(response.status_code)
    return response


def reader(url: str, tally: Tally, stop: threading.Event, i: int) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        n = i
        while not stop.is_set():
            question = QUESTIONS[n % len(QUESTIONS)]
            if n % 2:
                call(client, tally, "POST", "/kbs/soak/search", json={"query": question, "k": 5})
            else:
                call(client, tally, "POST", "/v1/chat/completions", json={
                    "model": "kb:soak", "messages": [{"role": "user", "content": question}], "max_tokens": 100})
            n += 1


def writer(url: str, tally: Tally, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        n = 0
        while not stop.is_set():
            name, token = f"up{n:04d}.txt", f"zq{n:04d}token"
            files = [("files", (name, f"Upload {n} mentions the rare word {token} twice: {token}.".encode(),
                                "text/plain"))]
            response = call(client, tally, "POST", "/kbs/soak/documents", files=files)
            if response is not None and response.status_code == 202:
                with tally.lock:
                    tally.acked[name] = token
            if n % 5 == 4:
                delete_one(client, tally)
            n += 1
            time.sleep(0.3)


def delete_one(client: httpx.Client, tally: Tally) -> None:
    listed = call(client, tally, "GET", "/kbs/soak/documents")
    if listed is None or listed.status_code != 200:
        return
    for doc in listed.json()["documents"]:
        if doc["name"].startswith("up") and doc["name"] not in tally.deleted:
            response = call(client, tally, "DELETE", f"/kbs/soak/documents/{doc['id']}")
            if response is not None and response.status_code == 202:
                with tally.lock:
                    tally.deleted.add(doc["name"])
            return


def settle(client: httpx.Client, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get("/jobs", params={"kb": "soak"}).json()["jobs"]
        if all(job["status"] in ("succeeded", "failed") for job in jobs):
            return
        time.sleep(0.5)
    raise SystemExit("jobs did not finish")


def verify(url: str, tally: Tally) -> dict[str, Any]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        settle(client)
        listed = {doc["name"]: doc for doc in client.get("/kbs/soak/documents").json()["documents"]}
        kept = {name: token for name, token in tally.acked.items() if name not in tally.deleted}
        lost = sorted(name for name in kept if name not in listed)
        unfindable = [name for name, token in kept.items() if name in listed and token not in " ".join(
            hit["text"] for hit in client.post("/kbs/soak/search", json={"query": token, "k": 3}).json()["hits"])]
        resurrected = sorted(name for name in tally.deleted if name in listed)
        info = client.get("/kbs/soak").json()
        failed_jobs = [job for job in client.get("/jobs", params={"kb": "soak"}).json()["jobs"]
                       if job["status"] == "failed"]
    consistent = info["chunks"] == info["vectors"] == sum(doc["chunks"] for doc in listed.values())
    return {"acknowledged_uploads": len(tally.acked), "deleted": len(tally.deleted), "lost": lost,
            "unfindable": unfindable, "resurrected": resurrected, "failed_jobs": len(failed_jobs),
            "consistent": consistent, "chunks": info["chunks"], "vectors": info["vectors"],
            "documents_listed": len(listed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="llmapp-soak-"))
    env = {**os.environ, "LLMAPP_HOME": str(home / "kbs"), "LLMAPP_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    seed = home / "seed"
    seed.mkdir()
    for name, text in SEED_DOCS.items():
        (seed / name).write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "llmapp", "ingest", str(seed), "--kb", "soak", "--embedder", "hash:64",
                    "-q"], check=True, env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(port, env)
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=reader, args=(url, tally, stop, i)) for i in range(args.clients)]
    threads.append(threading.Thread(target=writer, args=(url, tally, stop)))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    restarts = []
    for fraction in (1 / 3, 2 / 3):
        time.sleep(max(0.0, started + fraction * args.seconds - time.monotonic()))
        server.send_signal(signal.SIGKILL)
        server.wait()
        down = time.monotonic()
        server = start(port, env)
        restarts.append(round(time.monotonic() - down, 2))
    time.sleep(max(0.0, started + args.seconds - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join()
    try:
        result = verify(url, tally)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    fives = sum(count for status, count in tally.statuses.items() if status >= 500)
    report = {"seconds": args.seconds, "clients": args.clients, "kills": 2, "restart_s": restarts,
              "responses": dict(sorted(tally.statuses.items())), "responses_5xx": fives,
              "refused_while_down": tally.down, **result}
    print(json.dumps(report, indent=2, ensure_ascii=False))
    ok = fives == 0 and not result["lost"] and not result["unfindable"] and result["consistent"] \
        and not result["resurrected"]
    print("soak:", "PASS" if ok else "FAIL", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
