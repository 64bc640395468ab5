"""What identifies a classifier's weights for `--resume`: a folder path can stay while its weights change."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_sha256(folder: Path) -> str:
    """One SHA-256 over the names and bytes of the weight files under `folder` (a model folder or a finetune
    run: its adapter/ or model/), leaving out training checkpoints and hidden files. A run that holds only an
    adapter is loaded on its base model, so the base model's weights count too."""
    digest = hashlib.sha256()
    _update(digest, folder)
    base = _adapter_base(folder)
    if base is not None:
        digest.update(b"base\0")
        _update(digest, base)
    return digest.hexdigest()


def _adapter_base(folder: Path) -> Path | None:
    from finetune import rundir
    from finetune.runs import base_model_folder

    if (folder / rundir.MODEL).is_dir() or not (folder / rundir.ADAPTER).is_dir():
        return None
    return base_model_folder(folder)


def _update(digest: Any, folder: Path) -> None:
    for item in sorted(folder.rglob("*")):
        relative = item.relative_to(folder)
        if not item.is_file() or item.suffix not in WEIGHT_SUFFIXES or relative.parts[0] == "checkpoints" or \
                any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        with item.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
