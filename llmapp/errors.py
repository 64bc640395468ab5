"""llmapp's exceptions. Library code raises them; the CLI maps them to exit codes, the server to HTTP statuses.

Errors from `ingest` (ingest.errors.IngestError) and `finetune` (finetune.errors.FinetuneError) are treated the
same way at the edges: all three base classes derive from `llmcommon.errors.UserError`, the one type the CLI and
the server catch.
"""

from __future__ import annotations

from llmcommon.errors import UserError


class LlmappError(UserError):
    """Base class: a problem the user can fix; the message says how."""


class ConfigError(LlmappError):
    """A setting, a flag or a config file has a bad value."""


class NotFoundError(LlmappError):
    """A knowledge base, model, run or document that was named does not exist."""


class ModelError(LlmappError):
    """A model folder cannot be loaded or used for what was asked."""


class UpstreamError(ModelError):
    """The OpenAI-compatible model server failed or could not be reached. The message names the server (its
    URL without credentials) and the status, never the server's answer, which is logged instead: the API
    answers it with a 502 and a request id."""


class DependencyMissing(LlmappError):
    """An optional package is not installed; the message gives the pip command."""
