"""finetune's exceptions: each one is a problem the user can fix, and the message says how.

`finetune` never imports `llmapp`; the `llmapp` CLI catches `FinetuneError` and prints it as one line.
"""

from __future__ import annotations


class FinetuneError(Exception):
    """Base class for every error this package raises on purpose."""


class JobConfigError(FinetuneError):
    """The job YAML has an unknown key, a missing key or a bad value."""


class DataError(FinetuneError):
    """A data file is missing, unreadable, or has too many bad rows to train on."""


class ModelLoadError(FinetuneError):
    """A base model or run folder cannot be found or cannot be used for the task."""


class RunFolderError(FinetuneError):
    """A run folder is missing a file it should have, or a resume/export cannot proceed."""
