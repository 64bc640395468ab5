"""Background jobs that write a knowledge base: ingest uploaded files, remove documents.

One worker thread per knowledge base runs its jobs in submission order, so writes to one knowledge base never
contend for its lock while different knowledge bases are written in parallel. A job runs to the end whatever
happens to the request that submitted it (the client may disconnect and poll `GET /jobs/{id}` later).
Uploaded files are ingested one at a time: each file is one commit, readers see documents as they land, and
`progress` counts files. With a `JobStore`, jobs are on disk: a server killed mid-job leaves the knowledge base
at its last commit (the store's guarantee) and runs the unfinished jobs again when it starts (`resume`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from llmapp.server.jobstore import JobStore
from llmcommon.errors import UserError

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "succeeded", "failed"]
Step = Callable[["Job"], None]


@dataclass
class Job:
    """What `GET /jobs/{id}` shows."""

    id: str
    kind: Literal["ingest", "remove"]
    kb: str
    total: int  # units of work (files) the job will do
    status: Status = "queued"
    done: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    spec: dict[str, Any] = field(default_factory=dict)  # what rebuilds the work after a restart
    saved: Callable[[Job], None] = field(default=lambda job: None, repr=False, compare=False)

    def advance(self, result: dict[str, Any] | None = None) -> None:
        """One more unit done (and the result so far), written to the job store."""
        self.done += 1
        self.result = result if result is not None else self.result
        self.saved(self)

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "kb": self.kb, "total": self.total, "status": self.status,
                "done": self.done, "result": self.result, "error": self.error, "created_at": self.created_at,
                "started_at": self.started_at, "finished_at": self.finished_at, "spec": self.spec}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "kb": self.kb, "status": self.status,
                "progress": {"done": self.done, "total": self.total,
                             "fraction": round(self.done / self.total, 4) if self.total else 1.0},
                "result": self.result, "error": self.error, "created_at": self.created_at,
                "started_at": self.started_at, "finished_at": self.finished_at}


class JobQueue:
    """Jobs by id, run by one worker per knowledge base; the latest `kept` jobs are remembered."""

    def __init__(self, kept: int = 500, mask: Callable[[str], str] = lambda text: text,
                 store: JobStore | None = None) -> None:
        self.kept = kept
        self.mask = mask  # hides server paths in error messages
        self.store = store
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._workers: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def submit(self, kind: Literal["ingest", "remove"], kb: str, total: int, step: Step,
               spec: dict[str, Any] | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex, kind=kind, kb=kb, total=total, spec=spec or {}, saved=self._save)
        self._save(job)  # on disk before the client hears 202
        self._enqueue(job, step)
        return job

    def resume(self, step_for: Callable[[Job], Step]) -> int:
        """Load the stored jobs; run the unfinished ones again (`step_for` rebuilds their work from the spec,
        or raises to fail them). Returns how many were resumed."""
        if self.store is None:
            return 0
        resumed = 0
        for row in self.store.latest(self.kept):
            job = Job(**row, saved=self._save)
            if job.status in ("succeeded", "failed"):
                with self._lock:
                    self._jobs[job.id] = job
                continue
            job.status, job.done = "queued", 0
            try:
                step = step_for(job)
            except Exception as exc:  # the knowledge base or the upload is gone: the job cannot run again
                job.status, job.error, job.finished_at = "failed", self.mask(f"not resumed after a restart: {exc}"), \
                    time.time()
                self._save(job)
                with self._lock:
                    self._jobs[job.id] = job
                continue
            self._enqueue(job, step)
            resumed += 1
        return resumed

    def _enqueue(self, job: Job, step: Step) -> None:
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
            worker = self._workers.get(job.kb)
            if worker is None:
                worker = self._workers[job.kb] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kb-{job.kb}")
        worker.submit(self._run, job, step)

    def _save(self, job: Job) -> None:
        if self.store is not None:
            self.store.save(job.row())

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, kb: str | None = None) -> list[Job]:
        with self._lock:
            return [job for job in reversed(self._jobs.values()) if kb is None or job.kb == kb]

    def busy(self, kb: str) -> bool:
        return any(job.status in ("queued", "running") for job in self.list(kb))

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Poll until the job finishes or `timeout` seconds pass (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(job_id)
            if job is None or job.status in ("succeeded", "failed"):
                return job
            time.sleep(0.05)
        return self.get(job_id)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown(wait=wait, cancel_futures=not wait)
        if self.store is not None:
            self.store.prune(self.kept)
            self.store.close()

    def _run(self, job: Job, step: Step) -> None:
        job.status, job.started_at = "running", time.time()
        self._save(job)
        try:
            step(job)
            job.status = "succeeded"
        except UserError as exc:
            job.status, job.error = "failed", self.mask(str(exc))
        except Exception:  # a job thread must never die silently; the log has the traceback
            log.exception("job %s (%s on %s) failed", job.id, job.kind, job.kb)
            job.status, job.error = "failed", f"internal error; the server log has the details (job {job.id})"
        finally:
            job.finished_at = time.time()
            self._save(job)

    def _trim(self) -> None:
        finished = [jid for jid, job in self._jobs.items() if job.status in ("succeeded", "failed")]
        for jid in finished[: max(0, len(self._jobs) - self.kept)]:
            del self._jobs[jid]
