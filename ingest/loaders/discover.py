"""Which files an ingest reads: named files, and supported files found by walking named folders."""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.registry import loader_for, supported_extensions

logger = logging.getLogger(__name__)


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)  # absolute, sorted, each file once
    errors: list[LoadError] = field(default_factory=list)


@dataclass(frozen=True)
class _Filter:
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def matches(self, relative: str, patterns: tuple[str, ...]) -> bool:
        name = relative.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)

    def wants_file(self, relative: str) -> bool:
        included = not self.include or self.matches(relative, self.include)
        return included and not self.matches(relative, self.exclude)


def discover(
    paths: Sequence[Path | str], include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> Discovery:
    """Files to ingest, and why some named paths cannot be.

    A named file is taken as is (an unsupported extension is an error). A named folder is walked
    recursively in sorted order: hidden entries (".git") are skipped, so are files of unsupported type;
    `include`/`exclude` are fnmatch globs matched against the path relative to that folder and against
    the file name ("*.md", "drafts/*"). Symlinks are followed once; loops are cut.
    """
    found = Discovery()
    real_paths: dict[str, Path] = {}  # real path -> first absolute path that reached it
    filters = _Filter(tuple(include), tuple(exclude))
    for named in paths:
        path = Path(os.path.abspath(named))
        if path.is_dir():
            candidates = _walk(path, filters, found.errors)
        elif path.is_file():
            candidates = _named_file(path, found.errors)
        else:
            reason = "broken symlink" if path.is_symlink() else "no such file or directory"
            found.errors.append(LoadError(str(path), reason))
            continue
        for candidate in candidates:
            real = os.path.realpath(candidate)
            if real not in real_paths or real == str(candidate):  # prefer the file over a link to it
                real_paths[real] = candidate
    found.files = sorted(real_paths.values())
    return found


def _named_file(path: Path, errors: list[LoadError]) -> list[Path]:
    if loader_for(path) is None:
        suffix = path.suffix or "(no extension)"
        errors.append(LoadError(str(path), f"unsupported file type {suffix!r}; supported: "
                                f"{', '.join(supported_extensions())}"))
        return []
    return [path]


def _walk(root: Path, filters: _Filter, errors: list[LoadError]) -> list[Path]:
    files: list[Path] = []
    visited: set[tuple[int, int]] = set()  # (device, inode) of folders walked: cuts symlink loops

    def on_error(exc: OSError) -> None:
        errors.append(LoadError(str(exc.filename or root), f"cannot list folder: {exc.strerror or exc}"))

    for folder, dirs, names in os.walk(root, onerror=on_error, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in visited:
            dirs[:] = []
            continue
        visited.add((stat.st_dev, stat.st_ino))
        relative_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if relative_folder == "." else relative_folder + "/"
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not filters.matches(prefix + d, filters.exclude)
        )
        for name in sorted(names):
            path = Path(folder, name)
            if name.startswith("."):
                continue
            if not path.exists():  # os.walk lists a dangling link among the files
                errors.append(LoadError(str(path), "broken symlink"))
            elif loader_for(path) is None:
                logger.debug("skipping %s: unsupported file type", path)
            elif path.is_file() and filters.wants_file(prefix + name):
                files.append(path)
    return files
