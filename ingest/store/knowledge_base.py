"""A knowledge base folder: open or create it, read it through snapshots, write it through one writer."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ingest.errors import KnowledgeBaseError
from ingest.store.dense_index import DensePolicy
from ingest.store.manifest import Manifest, with_current_embedder
from ingest.store.schema import DOCSTORE, MANIFEST, SCHEMA, connect, is_knowledge_base, read_meta
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
        with contextlib.closing(connect(kb)) as conn:
            return cls(kb, with_current_embedder(manifest, read_meta(conn)))

    @classmethod
    def create(cls, path: Path | str, manifest: Manifest) -> KnowledgeBase:
        """Create an empty knowledge base, or open the existing one if its embedder matches."""
        kb = Path(path)
        if is_knowledge_base(kb):
            existing = cls.open(kb)
            existing.manifest.check_embedder(manifest.embedder, kb)
            return existing
        if kb.is_dir() and any(kb.iterdir()):
            raise KnowledgeBaseError(
                f"{kb} is not empty and not a knowledge base (no {MANIFEST}): a knowledge base is only created in "
                "a new or empty folder. If it is what an older llmapp's killed delete left behind, remove it first")
        manifest = replace(manifest, kb_id=manifest.kb_id or uuid.uuid4().hex)
        # built aside and renamed into place: a killed create leaves no half knowledge base under the name
        building = kb.parent / f".{kb.name}.creating-{manifest.kb_id[:12]}"
        building.mkdir(parents=True)
        with contextlib.closing(connect(building)) as conn:
            conn.executescript(SCHEMA)
        manifest.write(building)
        try:
            os.rename(building, kb)  # replaces an empty folder too
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            if is_knowledge_base(kb):  # another process created it meanwhile
                return cls.create(kb, manifest)
            raise
        return cls(kb, manifest)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.path, self.manifest)

    def version(self) -> int:
        with connect(self.path) as conn:
            return int(read_meta(conn).get("version", "0"))

    @contextmanager
    def writer(self, policy: DensePolicy | None = None) -> Iterator[Writer]:
        """The one writer; `policy` says when its dense index turns approximate (default: 200k vectors)."""
        with write_lock(self.path):
            writer = Writer(self, policy)
            try:
                yield writer
            finally:
                writer.close()
