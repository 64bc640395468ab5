"""Generator backends by name, and `open_generator(config)` that picks and builds one.

Built-in backends are registered as "module:factory" strings so that naming one imports nothing heavy until it
is opened; third-party backends register the same way through the `llmapp.generators` entry-point group
(`name = "package.module:factory"`). A factory takes a `GeneratorConfig` and returns a `Generator`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from llmapp.errors import ConfigError
from llmapp.generate.base import Generator
from llmapp.generate.redact import redact_url

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "llmapp.generators"

_BUILTIN: dict[str, str] = {
    "extractive": "llmapp.generate.extractive:ExtractiveGenerator.from_config",
    "transformers": "llmapp.generate.hf:TransformersGenerator.from_config",
    "llamacpp": "llmapp.generate.llamacpp:LlamaCppGenerator.from_config",
    "openai": "llmapp.generate.openai_compat:OpenAIGenerator.from_config",
    "fake": "llmapp.generate.fake:FakeGenerator.from_config",
}
_registered: dict[str, str | Callable[[GeneratorConfig], Generator]] = dict(_BUILTIN)


class GeneratorConfig(BaseModel):
    """How to build a generator. `backend=None` picks one from the model (see `resolve_backend`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str | None = None
    model: str | None = Field(
        default=None,
        description="A model folder, a .gguf file, 'smollm2' (the shipped default), or a server's model.",
    )
    adapter: Path | None = Field(default=None, description="A PEFT adapter folder (transformers backend).")
    device: str | None = Field(default=None, description="cpu, cuda, cuda:1; default: cuda when present.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    base_url: str | None = Field(default=None, description="OpenAI-compatible server, e.g. http://host:8000/v1")
    api_key: SecretStr | None = Field(default=None, description="The server's key; masked in every repr.")
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    context_window: int | None = Field(default=None, ge=64, description="Tokens the model reads at once.")
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads (llamacpp, transformers on CPU); default: the free cores."
    )


    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "base_url" and isinstance(value, str) else value


def register_backend(name: str, factory: str | Callable[[GeneratorConfig], Generator]) -> None:
    """Add or replace a backend; `factory` is a callable or a lazy "module:attr.attr" reference."""
    _registered[name] = factory


def backend_names() -> list[str]:
    _load_entry_points()
    return sorted(_registered)


def llamacpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def resolve_backend(config: GeneratorConfig) -> str:
    """The backend to use when none was named: a server URL means openai; a GGUF file (or the default
    SmolLM2) means llamacpp when llama-cpp-python is installed; everything else means transformers."""
    if config.backend:
        return config.backend
    if config.base_url:
        return "openai"
    if config.adapter is not None:
        return "transformers"  # PEFT adapters need the transformers backend
    is_gguf = config.model is None or config.model == "smollm2" or config.model.lower().endswith(".gguf")
    return "llamacpp" if is_gguf and llamacpp_installed() else "transformers"


def open_generator(config: GeneratorConfig | None = None) -> Generator:
    """Build the configured generator (default: the shipped SmolLM2 through the fastest installed backend)."""
    config = config or GeneratorConfig()
    name = resolve_backend(config)
    _load_entry_points()
    if name not in _registered:
        raise ConfigError(f"unknown generator backend {name!r}; available: {', '.join(sorted(_registered))}")
    factory = _registered[name]
    if isinstance(factory, str):
        factory = _import_factory(factory)
    logger.info("opening generator backend %s (model %s)", name, config.model or "smollm2")
    return factory(config.model_copy(update={"backend": name}))


def _import_factory(reference: str) -> Callable[[GeneratorConfig], Generator]:
    module_name, _, attr_path = reference.partition(":")
    target: object = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        target = getattr(target, attr)
    if not callable(target):
        raise ConfigError(f"generator factory {reference} is not callable")
    return target  # type: ignore[return-value]


_entry_points_loaded = False


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        _registered.setdefault(entry.name, entry.value)
