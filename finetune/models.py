"""Base models: shipped aliases, folder hashes, and the refusal to train quantized weights.

The shipped models and the one-time GGUF -> safetensors conversion of SmolLM2 live in `llmcommon.models`
(generation uses the same converted folder); this module maps the aliases onto them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finetune.errors import ModelLoadError
from llmcommon.errors import ShippedModelMissing
from llmcommon.models import E5_ALIASES, e5_small_path, minilm_path, smollm2_folder

ALIASES = ("minilm", "smollm2", *E5_ALIASES)
EAGER_MAX_LENGTH = 256  # tokens; see training_attention


def resolve_base_model(name_or_path: str) -> Path:
    """A model folder for an alias (`minilm`, `smollm2`, `e5-small`) or a local folder path."""
    if name_or_path in ALIASES:
        return _shipped(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() == ".gguf":
        raise ModelLoadError(
            f"{path} is a GGUF file: transformers loads it as a quantized model, which cannot be trained. "
            "Train from a safetensors folder (for the shipped SmolLM2 use base_model: smollm2, which "
            "converts "
            "the GGUF once)."
        )
    if not path.is_dir():
        raise ModelLoadError(
            f"base model {name_or_path!r} is neither a shipped alias ({', '.join(ALIASES)}) nor a folder; "
            "give a local model folder (models are never downloaded)"
        )
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} has no config.json: point base_model at a transformers model folder")
    return path.resolve()


def _shipped(alias: str) -> Path:
    try:
        if alias in E5_ALIASES:
            return e5_small_path()
        return minilm_path() if alias == "minilm" else smollm2_folder()
    except ShippedModelMissing as exc:
        raise ModelLoadError(str(exc)) from exc


def folder_sha256(path: Path) -> str:
    """One hash over the names and contents of a model folder's files (sorted, hidden files skipped)."""
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(item.relative_to(path)).encode())
        with item.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def training_attention(max_length: int, bf16: bool) -> str | None:
    """The attention kernel an encoder trains with: "eager" on a CPU-only host training under bfloat16 autocast
    with inputs of at most `EAGER_MAX_LENGTH` tokens, where PyTorch's bfloat16 flash-attention backward costs
    about ten times its forward (e5-small, top 4 of 12 layers adapted, batches of 16 reviews of ~80 tokens,
    max 128: 0.68 -> 0.58 s a step, 0.41 -> 0.31 s with `lora.cache_frozen`; a `kb tune` step of 32 triples:
    14.8 -> 12.6 s). None (the model's default, sdpa) in float32 (the two kernels are within 4% there), with
    CUDA or MPS, or for longer inputs, whose eager attention matrices grow with the square of the length. The
    classification and embedding tasks train with it; inference loads the default."""
    import torch

    if not bf16 or max_length > EAGER_MAX_LENGTH:
        return None
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        return None
    return "eager"


def refuse_quantized(model: Any) -> None:
    """GGUF-loaded or otherwise quantized weights cannot be trained; say what to do instead."""
    if getattr(model, "is_quantized", False) or getattr(model.config, "quantization_config", None):
        raise ModelLoadError(
            "this model was loaded quantized (e.g. from a GGUF file) and cannot be fine-tuned; train from a "
            "safetensors folder (for the shipped SmolLM2 use base_model: smollm2)"
        )


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights" bar and no load report while a trained run is loaded: the report calls the head
    "MISSING ... newly initialized" because the run's adapter restores it a moment later, which made every
    `llmapp classify --model RUN` look broken. Warnings from elsewhere are untouched: both settings return."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


def set_dropout(model: Any, p: float) -> int:
    """Set every dropout layer of the model to probability `p` for training, except LoRA's own (`lora.dropout`
    sets those). Attention dropout follows: transformers reads the layer's `p` at each call. Inference is
    unaffected (eval mode drops nothing) and the saved config keeps the checkpoint's values. Returns how many
    layers were set."""
    import torch

    layers = [module for name, module in model.named_modules()
              if isinstance(module, torch.nn.Dropout) and "lora_dropout" not in name.split(".")]
    for module in layers:
        module.p = p
    return len(layers)
