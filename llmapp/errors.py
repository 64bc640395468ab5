"""llmapp's exceptions. Library code raises them; the CLI maps them to exit codes, the server to HTTP statuses.

Errors from `ingest` (ingest.errors.IngestError) and `finetune` are treated the same way at the edges:
those packages never import llmapp, so they keep their own small hierarchies.
"""

from __future__ import annotations


class LlmappError(Exception):
    """Base class: a problem the user can fix; the message says how."""


class ConfigError(LlmappError):
    """A setting, a flag or a config file has a bad value."""


class NotFoundError(LlmappError):
    """A knowledge base, model, run or document that was named does not exist."""


class ModelError(LlmappError):
    """A model folder cannot be loaded or used for what was asked."""


class DependencyMissing(LlmappError):
    """An optional package is not installed; the message gives the pip command."""
