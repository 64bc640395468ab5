"""Uploaded files: safe names, limits, atomic saving into `<kb>/uploads/`, and the job steps that ingest them
or remove documents.

A client's file name is only a hint: it is reduced to its last path component, stripped of anything but
letters (any script), digits and `._-()` and of leading dots, and cut to a sane length, so
`../../etc/passwd.txt` lands as `uploads/passwd.txt` inside the knowledge base. Re-uploading the same name
replaces that file, and the ingest updates exactly its chunks.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO

from llmapp.server.config import Limits
from llmapp.server.errors import ApiError
from llmapp.server.jobs import Job
from llmcommon.hashing import file_sha256

MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 200  # of UTF-8, under the 255 most file systems allow
UPLOADS = "uploads"
INCOMING = ".incoming-"
_UNSAFE = re.compile(r"[^\w.\-() ]+")
_COPY_BLOCK = 1 << 20


def sanitise_name(raw: str) -> str:
    """A harmless file name from whatever a client sent (never empty, never a path, never hidden)."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" ._")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:16]
    stem = stem.strip(" ._")[: MAX_NAME_CHARS - len(ext) - 1] or "upload"
    while len(f"{stem}.{ext}".encode()) > MAX_NAME_BYTES:  # file systems count bytes: 120 CJK characters are 360
        stem = stem[:-1]
    return f"{stem}.{ext}" if ext else stem


@dataclass
class Incoming:
    """One file of an upload request: its safe name and a readable, seekable body."""

    name: str
    body: BinaryIO
    size: int


def check_upload(files: Sequence[Incoming], limits: Limits, allowed: Sequence[str]) -> None:
    """Refuse an upload as a whole before anything is saved."""
    if not files:
        raise ApiError(400, "no files: send them as multipart form data in the field 'files'")
    if len(files) > limits.max_files:
        raise ApiError(413, f"{len(files)} files in one request; the limit is max_files={limits.max_files}")
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ApiError(400, "two files in the request have the same name (after making names safe)")
    for item in files:
        if Path(item.name).suffix.lower() not in allowed:
            raise ApiError(415, f"{item.name}: unsupported file type; allowed: {' '.join(allowed)}")
        if item.size > limits.max_file_bytes:
            raise ApiError(413, f"{item.name} has {item.size} bytes; the limit is max_file_bytes="
                                f"{limits.max_file_bytes}")


def save_uploads(files: Sequence[Incoming], folder: Path) -> list[Path]:
    """Write every file aside first, then rename them all into place: an ingest never reads a half-written
    upload, and a request that fails half-way leaves none of its files (nor temporaries) behind."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path]] = []
    try:
        for item in files:
            fd, tmp = tempfile.mkstemp(prefix=INCOMING, dir=folder)
            written.append((item.name, Path(tmp)))
            with os.fdopen(fd, "wb") as handle:
                item.body.seek(0)
                while block := item.body.read(_COPY_BLOCK):
                    handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        for _, tmp_path in written:
            tmp_path.unlink(missing_ok=True)
        raise
    for name, tmp_path in written:
        os.replace(tmp_path, folder / name)
    return [folder / name for name, _ in written]


def clean_incoming(home: Path) -> int:
    """Remove the temporaries of uploads a killed server never finished writing; returns how many."""
    leftovers = list(home.glob(f"*/{UPLOADS}/{INCOMING}*"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return len(leftovers)


def step_for(kbs: Any, limits: Limits) -> Any:
    """Rebuild a stored job's work from its spec (after a restart); raises when it cannot run any more."""
    def build(job: Job) -> Any:
        base = kbs.open(job.kb)
        if job.kind == "tune":  # its run folder resumes training; the gate and switch start over when re-posted
            raise ValueError(f"tune jobs are not restarted automatically; POST /kbs/{job.kb}/tune again")
        if job.kind == "remove":
            return remove_step(base, job.spec["source"], job.spec.get("sha256"))
        files = [kbs.uploads(job.kb) / name for name in job.spec["files"]]
        embedder = kbs.embedder(base.manifest.embedder.name)
        return ingest_step(base.path, files, embedder, limits)
    return build


def ingest_step(kb_path: Path, files: Sequence[Path], embedder: Any, limits: Limits) -> Any:
    """The job step that ingests `files` one at a time, counting progress and merging the reports."""
    from ingest.loaders import LoadOptions
    from ingest.loaders.isolated import Sandbox
    from ingest.pipeline import IngestOptions, IngestReport, ingest

    options = IngestOptions(progress=False, load=LoadOptions(max_file_bytes=limits.max_file_bytes),
                            sandbox=Sandbox(limits.load_memory_bytes, limits.load_timeout_s))

    def step(job: Job) -> None:
        total = IngestReport()
        for path in files[job.done:]:  # a resumed job starts after the files it finished
            report = ingest(kb_path, [path], embedder, options) if _inside(path, kb_path / UPLOADS) else \
                IngestReport(files_failed=[{"path": str(path), "error": "not a regular file inside the upload "
                                                                        "folder (a symlink?): not read"}])
            _merge(total, report)
            job.advance(_shown(total.to_dict(), kb_path))
    return step


def remove_step(kb: Any, source: str, sha256: str | None = None) -> Any:
    """The job step that removes one source file's documents, and the uploaded copy if it is still the file
    that was ingested (`sha256`): a newer upload of the same name, waiting for its own job, is kept."""
    from ingest.store import FileChange

    def step(job: Job) -> None:
        with kb.writer() as writer:
            added, removed = writer.commit([FileChange(path=source)])
            writer.sync_indexes(added, removed)
        path = Path(source)
        uploads = kb.path / UPLOADS if isinstance(kb.path, Path) else None  # a Milvus knowledge base has none
        if path.parent == uploads and sha256 is not None and _sha256(path) == sha256:
            path.unlink(missing_ok=True)
        job.advance({"chunks_removed": len(removed)})
    return step


def _sha256(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def _inside(path: Path, folder: Path) -> bool:
    """A regular file, not a symlink, whose real path lies in `folder`."""
    return not path.is_symlink() and path.is_file() and path.resolve().is_relative_to(folder.resolve())


def _merge(total: Any, report: Any) -> None:
    for item in fields(total):
        mine, theirs = getattr(total, item.name), getattr(report, item.name)
        setattr(total, item.name, round(mine + theirs, 3) if isinstance(mine, float) else mine + theirs)


def _shown(report: dict[str, Any], kb_path: Path) -> dict[str, Any]:
    for failure in report["files_failed"]:
        path = Path(str(failure.get("path", "")))
        failure["path"] = path.name if path.is_relative_to(kb_path) else path.as_posix()
    return report
