"""Deleting a knowledge base atomically: rename it into a trash folder, then remove it.

A rename is one step, so a kill -9 leaves either the whole knowledge base or none of it under its name (a
`shutil.rmtree` in place could leave a manifest without a docstore, which can neither be opened nor deleted, or
a docstore without a manifest that a new knowledge base of the same name would adopt). Whatever a killed
delete left in the trash is removed by the next delete or `empty_trash`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from ingest.errors import KnowledgeBaseError

log = logging.getLogger(__name__)

TRASH = ".trash"


def trash_of(kb: Path) -> Path:
    """The trash folder beside a knowledge base (same file system, so the rename is atomic)."""
    return kb.parent / TRASH


def delete_knowledge_base(kb: Path) -> None:
    """Move `kb` into the trash in one rename, then remove it and anything earlier deletes left there."""
    trash = trash_of(kb)
    trash.mkdir(exist_ok=True)
    target = trash / f"{kb.name}-{uuid.uuid4().hex[:12]}"
    try:
        os.rename(kb, target)
    except OSError as exc:
        raise KnowledgeBaseError(f"cannot delete {kb}: {exc.strerror or exc}") from None
    empty_trash(kb.parent)


def empty_trash(home: Path) -> int:
    """Remove what deletes (finished or killed) left in `home`'s trash; returns how many folders went."""
    trash = home / TRASH
    if not trash.is_dir():
        return 0
    removed = 0
    for leftover in sorted(trash.iterdir()):
        shutil.rmtree(leftover, ignore_errors=True)
        removed += not leftover.exists()
    with contextlib.suppress(OSError):
        trash.rmdir()  # only when empty: a delete running in parallel may have put a folder there
    if removed:
        log.info("removed %d deleted knowledge base(s) from %s", removed, trash)
    return removed
