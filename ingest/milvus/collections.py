"""The four collections of a Milvus knowledge base, and the client calls the store shares.

    NAME_chunks  one row per chunk: id (ours, sequential), file, doc_id, title, ordinal, start, end, n_tokens,
                 text, text_sha, metadata (JSON: the document's metadata overlaid with the chunk's), length
                 (BM25 tokens), dense (FLOAT_VECTOR, IP over unit vectors = cosine, FLAT = exact), sparse
                 (SPARSE_FLOAT_VECTOR of BM25 term saturations, IP; see ingest.milvus.bm25)
    NAME_files   one row per source file: path, sha256, size, mtime_ns, ingested_at, documents, chunks
    NAME_terms   one row per BM25 term: term, tid (the sparse dimension), df, maxsat
    NAME_meta    key -> value: the manifest JSON, version, next chunk id, chunk count, token total, max weight

Milvus wants a vector field in every collection: the last three carry a 2-d `unused` vector, always zero.
Every collection is created with Strong consistency, so a read sees the writes before it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from ingest.errors import KnowledgeBaseError
from ingest.milvus.uri import MilvusLocation

CHUNKS, FILES, TERMS, META = "chunks", "files", "terms", "meta"
TEXT_BYTES = 65535  # Milvus's VARCHAR limit
PATH_BYTES = 4096
SCAN_BATCH = 1000
IN_BATCH = 1000  # values per `in [...]` expression
# pymilvus pings every 10 s even on an idle channel; a gRPC server's default policy (one ping per 5 minutes
# without calls) answers that with GOAWAY "too_many_pings", and the next call fails: ping only during calls.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": 0}
UNUSED = [0.0, 0.0]


def milvus_module() -> Any:
    try:
        import pymilvus
    except ImportError as exc:
        raise KnowledgeBaseError("Milvus knowledge bases need pymilvus: pip install 'llmapp[scale]'") from exc
    return pymilvus


def connect(location: MilvusLocation) -> Any:
    """A `MilvusClient` for the location (token from LLMAPP_MILVUS_TOKEN), with an error that says what to check."""
    pymilvus = milvus_module()
    token = os.environ.get("LLMAPP_MILVUS_TOKEN", "")
    try:
        # dedicated: a channel of its own, never a cached one that the server may have closed (GOAWAY)
        return pymilvus.MilvusClient(uri=location.endpoint, token=token, timeout=30, grpc_options=GRPC_OPTIONS,
                                     dedicated=True)
    except pymilvus.MilvusException as exc:
        raise KnowledgeBaseError(f"cannot reach Milvus at {location.endpoint}: {exc}; is the server running "
                                 "(e.g. `milvus-lite server --data-dir D --port 19530`)?") from exc


def collection(location: MilvusLocation, part: str) -> str:
    return f"{location.name}_{part}"


def exists(client: Any, location: MilvusLocation) -> bool:
    return bool(client.has_collection(collection(location, META)))


def create_all(client: Any, location: MilvusLocation, dimension: int) -> None:
    """Create the chunk, file and term collections; the meta collection last, since its presence is what
    makes the knowledge base exist (a killed create leaves no half knowledge base)."""
    pymilvus = milvus_module()
    for part, schema in ((CHUNKS, _chunk_schema(pymilvus, dimension)), (FILES, _file_schema(pymilvus)),
                         (TERMS, _term_schema(pymilvus)), (META, _meta_schema(pymilvus))):
        name = collection(location, part)
        if client.has_collection(name):
            client.drop_collection(name)  # a killed create's leftover
        client.create_collection(name, schema=schema, index_params=_indexes(client, part),
                                 consistency_level="Strong")


def drop_all(client: Any, location: MilvusLocation) -> None:
    for part in (META, CHUNKS, FILES, TERMS):
        name = collection(location, part)
        if client.has_collection(name):
            client.drop_collection(name)


def _schema(pymilvus: Any) -> Any:
    return pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)


def _chunk_schema(pymilvus: Any, dimension: int) -> Any:
    types = pymilvus.DataType
    schema = _schema(pymilvus)
    schema.add_field("id", types.INT64, is_primary=True)
    for name, size in (("file", PATH_BYTES), ("doc_id", 1024), ("title", 2048), ("text", TEXT_BYTES),
                       ("text_sha", 64)):
        schema.add_field(name, types.VARCHAR, max_length=size)
    for name in ("ordinal", "start", "end", "n_tokens", "length"):
        schema.add_field(name, types.INT64)
    schema.add_field("metadata", types.JSON)
    schema.add_field("dense", types.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", types.SPARSE_FLOAT_VECTOR)
    return schema


def _file_schema(pymilvus: Any) -> Any:
    types = pymilvus.DataType
    schema = _schema(pymilvus)
    schema.add_field("path", types.VARCHAR, is_primary=True, max_length=PATH_BYTES)
    schema.add_field("sha256", types.VARCHAR, max_length=64)
    for name in ("size", "mtime_ns", "documents", "chunks"):
        schema.add_field(name, types.INT64)
    schema.add_field("ingested_at", types.DOUBLE)
    schema.add_field("unused", types.FLOAT_VECTOR, dim=len(UNUSED))
    return schema


def _term_schema(pymilvus: Any) -> Any:
    types = pymilvus.DataType
    schema = _schema(pymilvus)
    schema.add_field("term", types.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("tid", types.INT64)
    schema.add_field("df", types.INT64)
    schema.add_field("maxsat", types.FLOAT)
    schema.add_field("unused", types.FLOAT_VECTOR, dim=len(UNUSED))
    return schema


def _meta_schema(pymilvus: Any) -> Any:
    types = pymilvus.DataType
    schema = _schema(pymilvus)
    schema.add_field("key", types.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("value", types.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("unused", types.FLOAT_VECTOR, dim=len(UNUSED))
    return schema


def _indexes(client: Any, part: str) -> Any:
    params = client.prepare_index_params()
    if part == CHUNKS:
        params.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    else:
        params.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
    return params


def scan(client: Any, name: str, fields: Sequence[str], expression: str = "") -> Iterator[dict[str, Any]]:
    """Every row of `name` matching `expression` (all when empty), in batches."""
    iterator = client.query_iterator(name, batch_size=SCAN_BATCH, filter=expression, output_fields=list(fields))
    try:
        while True:
            rows = iterator.next()
            if not rows:
                return
            yield from rows
    finally:
        iterator.close()


def quoted(value: str) -> str:
    """A string literal for a Milvus expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def in_list(field: str, values: Sequence[Any]) -> str:
    rendered = ", ".join(quoted(v) if isinstance(v, str) else str(int(v)) for v in values)
    return f"{field} in [{rendered}]"


def batches(values: Sequence[Any], size: int = IN_BATCH) -> Iterator[Sequence[Any]]:
    for begin in range(0, len(values), size):
        yield values[begin : begin + size]
