"""A knowledge base in Milvus: `open`/`create`, `snapshot()`, `writer()`, like `ingest.store.KnowledgeBase`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ingest.errors import KnowledgeBaseError
from ingest.milvus.collections import connect, create_all, drop_all, exists
from ingest.milvus.meta import read_meta, write_meta
from ingest.milvus.snapshot import MilvusSnapshot
from ingest.milvus.uri import MilvusLocation
from ingest.milvus.writer import MilvusWriter
from ingest.store.manifest import Manifest
from ingest.store.schema import SCHEMA_VERSION


class MilvusKnowledgeBase:
    """The collections named by a `milvus://HOST:PORT/NAME` URI (ingest.milvus.collections)."""

    def __init__(self, client: Any, location: MilvusLocation, manifest: Manifest) -> None:
        self.client = client
        self.location = location
        self.path = str(location)
        self.manifest = manifest

    @classmethod
    def open(cls, uri: str) -> MilvusKnowledgeBase:
        location = MilvusLocation.parse(uri)
        client = connect(location)
        if not exists(client, location):
            raise KnowledgeBaseError(f"no knowledge base at {location}: create it with "
                                     f"`llmapp ingest FILES --kb {location}`")
        return cls(client, location, _manifest(read_meta(client, location), location))

    @classmethod
    def exists(cls, uri: str) -> bool:
        location = MilvusLocation.parse(uri)
        return exists(connect(location), location)

    @classmethod
    def create(cls, uri: str, manifest: Manifest) -> MilvusKnowledgeBase:
        """Create an empty knowledge base, or open the existing one if its embedder matches."""
        location = MilvusLocation.parse(uri)
        client = connect(location)
        if exists(client, location):
            existing = cls(client, location, _manifest(read_meta(client, location), location))
            existing.manifest.check_embedder(manifest.embedder, str(location))
            return existing
        manifest = replace(manifest, kb_id=manifest.kb_id or uuid.uuid4().hex)
        create_all(client, location, manifest.embedder.dimension)
        write_meta(client, location, {"manifest": json.dumps(manifest.to_dict(), ensure_ascii=False),
                                      "version": "0", "next_id": "1", "n_chunks": "0", "total_length": "0"})
        return cls(client, location, manifest)

    def snapshot(self) -> MilvusSnapshot:
        return MilvusSnapshot(self.client, self.location)

    def version(self) -> int:
        return int(read_meta(self.client, self.location).get("version", "0"))

    @contextmanager
    def writer(self, policy: object = None) -> Iterator[MilvusWriter]:
        """The writer. `policy` is the local store's dense-index choice; Milvus indexes on the server (unused)."""
        writer = MilvusWriter(self.client, self.location)
        try:
            yield writer
        finally:
            writer.close()

    def drop(self) -> None:
        """Delete the knowledge base's collections (the meta collection first: it is what makes it exist)."""
        drop_all(self.client, self.location)


def _manifest(meta: dict[str, str], location: MilvusLocation) -> Manifest:
    try:
        manifest = Manifest.from_dict(json.loads(meta["manifest"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise KnowledgeBaseError(f"{location} has no readable manifest ({exc!r}): not an llmapp knowledge "
                                 "base") from exc
    if manifest.schema_version != SCHEMA_VERSION:
        raise KnowledgeBaseError(f"{location} has schema version {manifest.schema_version}; this llmapp reads "
                                 f"version {SCHEMA_VERSION}")
    return manifest
