"""The server's view of the knowledge bases under `Settings.home`: names, info, documents, and retrievers.

Readers never hold the writer lock. Each knowledge base keeps one cached retriever over a snapshot; a request
first asks the knowledge base for its committed version (one small SQLite read) and, when a writer has
committed since, opens a retriever over a fresh snapshot and closes the old one once no request uses it. So a
search during an ingest job answers from the last committed state, and the next one after the commit sees it.
Embedders are loaded once per name and shared by retrieval, `/v1/embeddings` and ingest jobs.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmapp.server.errors import ApiError
from llmapp.settings import Settings
from llmcommon.names import is_kb_name

log = logging.getLogger(__name__)

UPLOADS = "uploads"
# Names only, never paths: a client must not reach folders outside the server's home.
_RESERVED = frozenset({"cache"})  # Settings.home/cache holds retrieval caches
_NEW_KB_EMBEDDERS = re.compile(r"\A(e5-small|multilingual-e5-small|minilm|hash(:\d{1,4})?)\Z")


@dataclass
class _Cached:
    identity: str  # the manifest's creation id: a deleted and re-created knowledge base never matches
    version: int
    retriever: Any  # llmapp.retrieve.Retriever
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def close(self) -> None:
        with self.lock:  # waits for the request still reading the old snapshot
            self.closed = True
            self.retriever.close()


def document_id(source: str) -> str:
    """A short, URL-safe, stable id for a source file of a knowledge base."""
    return hashlib.blake2b(source.encode("utf-8"), digest_size=8).hexdigest()


class KnowledgeBases:
    """Knowledge bases by name, with shared embedders and version-checked retrievers."""

    def __init__(self, settings: Settings, mode: str = "hybrid", min_score: float | None = None) -> None:
        self.settings = settings
        self.mode = mode
        self.min_score = min_score
        self._embedders: dict[str, Any] = {}
        self._retrievers: dict[str, _Cached] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # --- names and folders -------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        if not is_kb_name(name) or name.lower() in _RESERVED:
            raise ApiError(400, f"{name!r} is not a valid knowledge base name: use letters (any script), digits, "
                                "'_', '-' or '.', starting with a letter or digit, at most 64 characters")
        return self.settings.home / name

    def open(self, name: str) -> Any:
        """The `ingest.store.KnowledgeBase` named `name`, or a 404."""
        from ingest.store import KnowledgeBase, is_knowledge_base

        path = self.path(name)
        if not is_knowledge_base(path):
            self._forget(name)  # deleted behind our back (another process): drop what was cached
            raise ApiError(404, f"no knowledge base named {name!r}; see GET /kbs or create it with POST /kbs")
        return KnowledgeBase.open(path)

    def names(self) -> list[str]:
        from ingest.store import is_knowledge_base

        home = self.settings.home
        return sorted(p.name for p in home.iterdir() if is_knowledge_base(p)) if home.is_dir() else []

    def display_source(self, name: str, source: str) -> str:
        """A source path as clients see it, never an absolute server path: relative to the knowledge base
        folder when inside it ("uploads/faq.md"), "$LLMAPP_HOME/..." elsewhere under the home folder, else
        the file's name (a folder the operator ingested from says nothing a client needs)."""
        path = Path(source)
        if not path.is_absolute():
            return path.as_posix()
        for folder, shown in ((self.path(name), ""), (self.settings.home, "$LLMAPP_HOME/")):
            for base in {folder, folder.resolve()}:
                if path.is_relative_to(base):
                    return shown + path.relative_to(base).as_posix()
        return path.name

    # --- info, create, delete ----------------------------------------------------------------------------

    def info(self, name: str) -> dict[str, Any]:
        base = self.open(name)
        with base.snapshot() as snap:
            stats = snap.stats()
        stats["name"] = name
        stats.pop("path", None)
        stats["embedder"] = {k: v for k, v in stats["embedder"].items() if k != "path"}
        return stats

    def create(self, name: str, embedder: str | None, chunk_tokens: int | None) -> dict[str, Any]:
        from ingest.embed import DEFAULT_EMBEDDER
        from ingest.pipeline import IngestOptions, ingest
        from ingest.store import is_knowledge_base

        path = self.path(name)
        if is_knowledge_base(path):
            raise ApiError(409, f"a knowledge base named {name!r} already exists")
        chosen = embedder or self.settings.embedder or DEFAULT_EMBEDDER
        if embedder is not None and not _NEW_KB_EMBEDDERS.match(embedder):
            raise ApiError(400, "embedder must be 'e5-small', 'minilm' or 'hash[:DIM]'; other models are set on "
                                "the server (LLMAPP_EMBEDDER or llmapp.yaml)")
        options = IngestOptions(chunk_tokens=chunk_tokens or self.settings.chunk_tokens,
                                chunk_overlap=self.settings.chosen_chunk_overlap(), progress=False)
        ingest(path, [], self.embedder(chosen), options)  # no files: creates the empty knowledge base
        return self.info(name)

    def delete(self, name: str) -> None:
        from ingest.trash import delete_knowledge_base
        from llmapp.retrieve.coverage import forget_coverage

        base = self.open(name)
        with base.writer():
            self._forget(name)
            delete_knowledge_base(base.path)
        forget_coverage(self.settings.home / "cache" / "coverage", base.manifest.identity)

    # --- documents ---------------------------------------------------------------------------------------

    def documents(self, name: str) -> list[dict[str, Any]]:
        base = self.open(name)
        with base.snapshot() as snap:
            files = snap.files()
        return [{"id": document_id(f.path), "source": self.display_source(name, f.path), "name": Path(f.path).name,
                 "sha256": f.sha256, "bytes": f.size, "ingested_at": f.ingested_at, "documents": f.documents,
                 "chunks": f.chunks} for f in files]

    def source_of(self, name: str, doc: str) -> tuple[str, str]:
        """The stored source path of the document with id `doc` and the sha256 it was ingested with, or a 404."""
        base = self.open(name)
        with base.snapshot() as snap:
            files = snap.files()
        for record in files:
            if document_id(record.path) == doc:
                return str(record.path), str(record.sha256)
        raise ApiError(404, f"no document {doc!r} in knowledge base {name!r}; see GET /kbs/{name}/documents")

    def uploads(self, name: str) -> Path:
        return self.path(name) / UPLOADS

    # --- embedders and retrievers ------------------------------------------------------------------------

    def embedder(self, embedder_name: str) -> Any:
        """A shared, warmed-up embedder (loaded once; warming loads the model before threads share it)."""
        from ingest.embed import load_embedder

        with self._lock:
            if embedder_name not in self._embedders:
                model = load_embedder(embedder_name, device=self.settings.device,
                                      precision=self.settings.embed_precision)
                model.embed(["warm up"])
                self._embedders[embedder_name] = model
            return self._embedders[embedder_name]

    def embedder_of(self, name: str) -> Any:
        return self.embedder(self.open(name).manifest.embedder.name)

    @contextmanager
    def retriever(self, name: str) -> Iterator[Any]:
        """A retriever at the knowledge base's latest committed version, used by one request at a time."""
        while True:
            cached = self._current(name)
            with cached.lock:
                # a newer version may have replaced and closed this one between the lookup and the lock
                if not cached.closed:
                    yield cached.retriever
                    return

    def _current(self, name: str) -> _Cached:
        base = self.open(name)
        version = base.version()
        with self._lock:
            cached = self._retrievers.get(name)
        if cached is None or (cached.identity, cached.version) != (base.manifest.identity, version):
            cached = self._replace(name, base, version)
        return cached

    def _replace(self, name: str, base: Any, version: int) -> _Cached:
        with self._lock:
            opening = self._opening.setdefault(name, threading.Lock())
        with opening:  # one request opens the new version; the others wait for it instead of doing it again
            with self._lock:
                old = self._retrievers.get(name)
            if old is not None and old.identity == base.manifest.identity and old.version >= version:
                return old
            fresh = _Cached(base.manifest.identity, version, self._open_retriever(base))
            with self._lock:
                self._retrievers[name] = fresh
        if old is not None:
            old.close()
        return fresh

    def _open_retriever(self, base: Any) -> Any:
        from llmapp.retrieve import build_retriever

        return build_retriever(base, None if self.mode == "lexical" else self.embedder, self.mode, self.min_score,
                               coverage_cache=self.settings.home / "cache" / "coverage")

    def _forget(self, name: str) -> None:
        with self._lock:
            cached = self._retrievers.pop(name, None)
        if cached is not None:
            cached.close()

    def close(self) -> None:
        for name in list(self._retrievers):
            self._forget(name)
