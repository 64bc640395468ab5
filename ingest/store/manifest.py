"""`manifest.json`: what a knowledge base was built with, as typed specs (the JSON file is unchanged)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest.errors import KnowledgeBaseError
from ingest.lexical import TOKENIZER_VERSION
from ingest.store.schema import MANIFEST, SCHEMA_VERSION, atomic_write


@dataclass(frozen=True)
class EmbedderSpec:
    """The embedder a knowledge base's vectors come from. Keys this version does not know are kept in `extra`."""

    name: str
    dimension: int
    path: str | None = None
    normalized: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EmbedderSpec:
        known = {key: raw[key] for key in ("name", "dimension", "path", "normalized") if key in raw}
        extra = {key: value for key, value in raw.items() if key not in known}
        return cls(str(known.pop("name")), int(known.pop("dimension")), **known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "dimension": self.dimension, "normalized": self.normalized,
                **self.extra}

    def same_model(self, other: EmbedderSpec) -> bool:
        return (self.name, self.dimension) == (other.name, other.dimension)


@dataclass(frozen=True)
class ChunkingSpec:
    """Chunk size in embedder tokens, and the tokens of a chunk's end repeated at the start of the next."""

    max_tokens: int
    overlap_tokens: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Manifest:
    """What a knowledge base was built with. Opening it with another embedder is an error."""

    embedder: EmbedderSpec
    chunking: ChunkingSpec
    lexical: dict[str, str] = field(default_factory=lambda: {"tokenizer": TOKENIZER_VERSION})
    schema_version: int = SCHEMA_VERSION
    created_at: float = field(default_factory=time.time)
    kb_id: str = ""  # random, set when the knowledge base is created: a deleted and re-created one differs

    @property
    def identity(self) -> str:
        """What caches key a knowledge base by (with its version): never the same for two creations."""
        return self.kb_id or f"created-{self.created_at!r}"  # knowledge bases made before kb_id existed

    @classmethod
    def read(cls, kb: Path) -> Manifest:
        path = kb / MANIFEST
        if not path.is_file():
            raise KnowledgeBaseError(f"{kb} is not a knowledge base (no {MANIFEST}); create it with `llmapp ingest`")
        try:
            manifest = cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError) as exc:
            raise KnowledgeBaseError(f"{path} is damaged or from another tool: {exc!r}") from exc
        if manifest.schema_version != SCHEMA_VERSION:
            raise KnowledgeBaseError(
                f"{kb} has schema version {manifest.schema_version}; this llmapp reads version {SCHEMA_VERSION}"
            )
        return manifest

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        fields = dict(raw)
        embedder = EmbedderSpec.from_dict(fields.pop("embedder"))
        chunking = ChunkingSpec(**fields.pop("chunking"))
        return cls(embedder=embedder, chunking=chunking, **fields)

    def to_dict(self) -> dict[str, Any]:
        return {"embedder": self.embedder.to_dict(), "chunking": self.chunking.to_dict(), "lexical": self.lexical,
                "schema_version": self.schema_version, "created_at": self.created_at,
                **({"kb_id": self.kb_id} if self.kb_id else {})}  # an older manifest is written back unchanged

    def write(self, kb: Path) -> None:
        atomic_write(kb / MANIFEST, json.dumps(self.to_dict(), indent=2, ensure_ascii=False).encode())

    def check_embedder(self, spec: EmbedderSpec, kb: Path | str) -> None:
        if not self.embedder.same_model(spec):
            mine, theirs = self.embedder, spec
            raise KnowledgeBaseError(
                f"{kb} was built with embedder {mine.name!r} ({mine.dimension}-d), not {theirs.name!r} "
                f"({theirs.dimension}-d): vectors of different models cannot be mixed. Use the same embedder or a "
                "new knowledge base."
            )


def with_current_embedder(manifest: Manifest, meta: dict[str, str]) -> Manifest:
    """The manifest with the embedder the docstore's vectors were made with. After `kb tune` switched the
    embedder (ingest.store.reembed) SQLite's meta row is the truth; manifest.json follows it a moment later."""
    current = meta.get("embedder")
    return manifest if current is None else replace(manifest, embedder=EmbedderSpec.from_dict(json.loads(current)))
