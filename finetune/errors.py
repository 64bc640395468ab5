"""finetune's exceptions: each one is a problem the user can fix, and the message says how.

`finetune` never imports `llmapp`; `FinetuneError` derives from `llmcommon.errors.UserError`, which the `llmapp`
CLI prints as one line and the server answers with a 4xx status.
"""

from __future__ import annotations

from llmcommon.errors import UserError


class FinetuneError(UserError):
    """Base class for every error this package raises on purpose."""


class JobConfigError(FinetuneError):
    """The job YAML has an unknown key, a missing key or a bad value."""


class DataError(FinetuneError):
    """A data file is missing, unreadable, or has too many bad rows to train on."""


class ModelLoadError(FinetuneError):
    """A base model or run folder cannot be found or cannot be used for the task."""


class RunFolderError(FinetuneError):
    """A run folder is missing a file it should have, or a resume/export cannot proceed."""
