"""The llmapp version, read from the installed package's metadata (pyproject.toml is the one place it is set)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed llmapp distribution's version; "0+unknown" when run from a tree that was never installed."""
    try:
        return version("llmapp")
    except PackageNotFoundError:
        return "0+unknown"
