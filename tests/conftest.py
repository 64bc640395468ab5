"""Session-wide test setup: offline, deterministic, nothing written outside tmp folders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# the session's milvus-lite server (`milvus_endpoint`), started only by the tests that ask for it
pytest_plugins = ["tests.support.milvus_server"]
