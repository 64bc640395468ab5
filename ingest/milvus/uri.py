"""`milvus://HOST:PORT/NAME`: where a Milvus-backed knowledge base lives.

NAME becomes the prefix of the knowledge base's four collections (`NAME_chunks`, `NAME_files`, `NAME_terms`,
`NAME_meta`), so it keeps to what Milvus allows in a collection name: an ASCII letter or '_' first, then
letters, digits or '_', at most 48 characters (the suffixes must still fit Milvus's 255).
`milvus+https://` talks TLS; a token for a secured cluster comes from LLMAPP_MILVUS_TOKEN, never the URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.errors import KnowledgeBaseError

SCHEMES = {"milvus": "http", "milvus+https": "https"}
_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,47}\Z")
DEFAULT_PORT = 19530


def is_milvus_uri(location: object) -> bool:
    return isinstance(location, str) and location.split("://", 1)[0] in SCHEMES and "://" in location


@dataclass(frozen=True)
class MilvusLocation:
    """A parsed `milvus://HOST:PORT/NAME`."""

    scheme: str
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, uri: str) -> MilvusLocation:
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise KnowledgeBaseError(f"{uri!r} is not a Milvus URI: expected milvus://HOST:PORT/NAME")
        name = parts.path.strip("/")
        if not _NAME.match(name):
            raise KnowledgeBaseError(
                f"{uri!r}: the knowledge base name {name!r} must start with an ASCII letter or '_' and hold only "
                "ASCII letters, digits and '_' (at most 48), as Milvus collection names do; e.g. milvus://h:19530/handbook")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise KnowledgeBaseError(f"{uri!r}: bad port ({exc})") from exc
        return cls(parts.scheme, parts.hostname, port, name)

    @property
    def endpoint(self) -> str:
        """What `pymilvus.MilvusClient(uri=...)` takes."""
        return f"{SCHEMES[self.scheme]}://{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.name}"
