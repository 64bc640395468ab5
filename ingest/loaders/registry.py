"""Which loader reads which extension: the `llmapp.loaders` entry points, with the built-ins as fallback.

A third-party package registers its loader exactly like the built-ins do, in its pyproject.toml:

    [project.entry-points."llmapp.loaders"]
    rtf = "my_package.rtf:RtfLoader"      # a Loader class (built with no arguments) or instance
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.base import Loader, LoadOptions, LoadResult

logger = logging.getLogger(__name__)

GROUP = "llmapp.loaders"
# The same table as pyproject.toml; used when the package metadata is missing or broken
# (a source checkout that was never pip-installed), so the built-ins always load.
BUILTIN_LOADERS = {
    "text": "ingest.loaders.text:TextLoader",
    "markdown": "ingest.loaders.markdown:MarkdownLoader",
    "html": "ingest.loaders.html:HtmlLoader",
    "pdf": "ingest.loaders.pdf:PdfLoader",
    "docx": "ingest.loaders.docx:DocxLoader",
    "table": "ingest.loaders.tables:TableLoader",
    "jsonl": "ingest.loaders.jsonl:JsonlLoader",
}


def _resolve(target: object) -> Loader:
    loader = target() if isinstance(target, type) else target
    if not isinstance(loader, Loader) or not all(e.startswith(".") for e in loader.extensions):
        raise TypeError(f"{target!r} is not a Loader: needs extensions like ('.md',) and load(path, options)")
    return loader


def _import(value: str) -> object:
    module, _, attr = value.partition(":")
    return getattr(import_module(module), attr)


def _entry_point_targets() -> dict[str, str]:
    try:
        return {ep.name: ep.value for ep in entry_points(group=GROUP)}
    except Exception:  # broken metadata of some installed distribution must not stop the built-ins
        logger.warning("cannot read the %s entry points; using the built-in loaders", GROUP, exc_info=True)
        return {}


@lru_cache(maxsize=1)
def registered_loaders() -> dict[str, Loader]:
    """Every loader by name: built-ins first, then plug-ins sorted by name (a plug-in may take over one)."""
    found = _entry_point_targets()
    targets = {**BUILTIN_LOADERS, **{name: found[name] for name in BUILTIN_LOADERS if name in found}}
    targets.update({name: found[name] for name in sorted(found) if name not in BUILTIN_LOADERS})
    loaders: dict[str, Loader] = {}
    for name, value in targets.items():
        try:
            loaders[name] = _resolve(_import(value))
        except Exception:
            logger.warning("skipping loader %r (%s): it failed to load", name, value, exc_info=True)
            if name in BUILTIN_LOADERS and value != BUILTIN_LOADERS[name]:
                loaders[name] = _resolve(_import(BUILTIN_LOADERS[name]))
    return loaders


def _by_extension() -> dict[str, Loader]:
    table: dict[str, Loader] = {}
    for loader in registered_loaders().values():
        for extension in loader.extensions:
            table[extension.lower()] = loader  # later (plug-in) loaders win
    return table


def supported_extensions() -> list[str]:
    """Lower-case extensions with their dot, sorted: ['.csv', '.docx', ...]."""
    return sorted(_by_extension())


def loader_for(path: Path | str) -> Loader | None:
    return _by_extension().get(Path(path).suffix.lower())


def load_file(path: Path | str, options: LoadOptions = LoadOptions()) -> LoadResult:
    """Read one file into Documents. Raises LoadError when the whole file is unusable."""
    path = Path(os.path.abspath(path))
    loader = loader_for(path)
    if loader is None:
        raise LoadError(
            str(path), f"unsupported file type {path.suffix or '(no extension)'!r}; supported: "
            f"{', '.join(supported_extensions())}",
        )
    if path.is_symlink() and not path.exists():
        raise LoadError(str(path), "broken symlink")
    if not path.exists():
        raise LoadError(str(path), "no such file or directory")
    if path.is_dir():
        raise LoadError(str(path), "is a directory, not a file")
    try:
        return loader.load(path, options)
    except LoadError:
        raise
    except Exception as exc:  # a loader bug must cost one file, not the whole ingest
        logger.debug("loader %r failed on %s", loader, path, exc_info=True)
        raise LoadError(str(path), f"{type(loader).__name__} failed: {type(exc).__name__}: {exc}") from exc
