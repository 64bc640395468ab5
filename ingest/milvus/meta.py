"""The `NAME_meta` collection: string keys and values (manifest JSON, version, counters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.milvus.collections import META, UNUSED, collection, scan
from ingest.milvus.uri import MilvusLocation


def read_meta(client: Any, location: MilvusLocation) -> dict[str, str]:
    return {row["key"]: row["value"] for row in scan(client, collection(location, META), ["key", "value"], 'key != ""')}


def write_meta(client: Any, location: MilvusLocation, values: Mapping[str, str]) -> None:
    rows = [{"key": key, "value": value, "unused": UNUSED} for key, value in values.items()]
    client.upsert(collection(location, META), rows)
