"""A knowledge base folder: open or create it, read it through snapshots, write it through one writer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.errors import KnowledgeBaseError
from ingest.store.manifest import Manifest
from ingest.store.schema import DOCSTORE, SCHEMA, connect, is_knowledge_base, read_meta
from ingest.store.snapshot import Snapshot
from ingest.store.writer import Writer, write_lock


class KnowledgeBase:
    """A knowledge base folder. Read through `snapshot()`; write through `writer()` (one at a time)."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: Path | str) -> KnowledgeBase:
        kb = Path(path)
        manifest = Manifest.read(kb)
        if not (kb / DOCSTORE).is_file():
            raise KnowledgeBaseError(f"{kb} has a manifest but no {DOCSTORE}: it is not a complete knowledge base")
        return cls(kb, manifest)

    @classmethod
    def create(cls, path: Path | str, manifest: Manifest) -> KnowledgeBase:
        """Create an empty knowledge base, or open the existing one if its embedder matches."""
        kb = Path(path)
        if is_knowledge_base(kb):
            existing = cls.open(kb)
            existing.manifest.check_embedder(manifest.embedder, kb)
            return existing
        kb.mkdir(parents=True, exist_ok=True)
        with connect(kb) as conn:
            conn.executescript(SCHEMA)
        manifest.write(kb)  # last: a folder without a manifest is not a knowledge base yet
        return cls(kb, manifest)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.path, self.manifest)

    def version(self) -> int:
        with connect(self.path) as conn:
            return int(read_meta(conn).get("version", "0"))

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        with write_lock(self.path):
            writer = Writer(self)
            try:
                yield writer
            finally:
                writer.close()
