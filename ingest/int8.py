"""int8 embedding on CPU: the encoder's Linear layers quantised in place (`llmcommon.int8`), with one activation
scale per text so that a chunk's vector depends on its own text alone, behind SmoothQuant-style smoothing scales
measured once on fixed texts (`ingest.calibration`) and cached.

The activation ranges cost a float32 pass over about 2,300 tokens (a second or two); they are a pure function of
the model's weight files and the calibration texts, so they are kept in `<cache>/int8-ranges/` (safetensors,
never pickle) under a key of both, and a search process loads them instead of measuring again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.calibration import calibration_texts
from ingest.store.schema import atomic_write
from llmcommon.int8 import calibration_maxima, encoder_linears, quantize_int8
from llmcommon.models import cache_dir

log = logging.getLogger(__name__)

RANGES_VERSION = 1  # bump when what is measured changes (not the texts: they are in the key)


def quantize_encoder(encoder: Any, folder: Path, embed: Callable[[list[str]], Any]) -> None:
    """Quantise `encoder` (the model's transformer) in place. `embed(texts)` runs texts through the whole model
    in float32 (the activation ranges are recorded meanwhile); `folder` is where the model's weights live."""
    texts = calibration_texts()
    path = ranges_path(folder, texts)
    maxima = _read(path, encoder)
    if maxima is None:
        maxima = calibration_maxima(encoder, lambda: embed(texts))
        _write(path, maxima)
    quantize_int8(encoder, maxima, rowwise=True, inplace=True)


def ranges_path(folder: Path, texts: list[str]) -> Path:
    """Where the ranges of the model in `folder` for `texts` are cached: keyed by the weight files' paths, sizes
    and modification times, and the texts."""
    weights = sorted(p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin", ".pt") and p.is_file())
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in weights]
    key = json.dumps({"version": RANGES_VERSION, "weights": stats, "texts": texts}, ensure_ascii=False)
    return cache_dir() / "int8-ranges" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"


def _read(path: Path, encoder: Any) -> dict[str, Any] | None:
    """The cached ranges, or None when missing, unreadable or not for this encoder's layers."""
    if not path.is_file():
        return None
    try:
        from safetensors.torch import load_file

        maxima = load_file(str(path))
    except Exception as exc:  # a torn or foreign file: measure again and overwrite it
        log.warning("ignoring unreadable int8 ranges %s (%s); measuring them again", path, exc)
        return None
    linears = encoder_linears(encoder)
    if set(maxima) != set(linears) or any(maxima[n].shape != (m.in_features,) for n, m in linears.items()):
        return None
    return maxima


def _write(path: Path, maxima: dict[str, Any]) -> None:
    from safetensors.torch import save

    try:
        atomic_write(path, save({name: tensor.contiguous() for name, tensor in maxima.items()}))
    except OSError as exc:  # a read-only cache only costs the next process the measurement
        log.warning("could not cache int8 ranges in %s (%s)", path, exc)
