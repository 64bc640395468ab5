"""`llamacpp`: GGUF models through llama-cpp-python; the default for GGUF files (and the shipped SmolLM2)
whenever it is installed, because it runs them several times faster on a CPU than transformers does.

The chat template is the one stored in the GGUF file (llama-cpp-python applies it). The wrapper adds nothing
per token beyond pulling the text out of each streamed chunk, so it runs as fast as llama-cpp-python itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llmapp.errors import DependencyMissing, ModelError
from llmapp.generate.base import Message, options_from, stop_at, validate_messages
from llmapp.generate.models import resolve_model
from llmapp.generate.registry import GeneratorConfig
from llmcommon.cpu import cpu_has_amx

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 2048


class LlamaCppGenerator:
    name = "llamacpp"

    def __init__(self, llama: Any, label: str) -> None:
        self._llama = llama
        self.model = label
        self.context_window = int(llama.n_ctx())

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> LlamaCppGenerator:
        if config.adapter is not None:
            raise ModelError("PEFT adapters need the transformers backend: add --backend transformers")
        path = resolve_model(config.model, prefer_gguf=True)
        if path.suffix.lower() != ".gguf":
            raise ModelError(f"{path} is not a .gguf file: use --backend transformers for model folders")
        return cls(load_llama(str(path), config.context_window or DEFAULT_WINDOW, config.threads,
                              gpu=bool(config.device and config.device.startswith("cuda"))), str(path))

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def generate(self, messages: list[Message], **opts: Any) -> str:
        return "".join(self.stream(messages, **opts))

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        validate_messages(messages)
        options = options_from(opts)
        chunks = self._llama.create_chat_completion(
            messages=messages, max_tokens=options.max_tokens, temperature=options.temperature,
            top_p=options.top_p, stop=list(options.stop) or None, seed=options.seed, stream=True,
            repeat_penalty=options.repetition_penalty,
        )
        # llama.cpp applies the stop sequences itself; stop_at only trims one split across chunks.
        return stop_at(_contents(chunks), options.stop)


def _contents(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            yield text


def load_llama(path: str, n_ctx: int, threads: int | None, gpu: bool = False) -> Any:
    """A `llama_cpp.Llama` for a GGUF file; says how to install llama-cpp-python when it is missing."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise DependencyMissing(
            "the llamacpp backend needs llama-cpp-python: pip install llama-cpp-python "
            "(or use --backend transformers)"
        ) from None
    try:
        with _weight_repacking(enabled=not cpu_has_amx()):
            return Llama(model_path=path, n_ctx=n_ctx, n_threads=threads or os.cpu_count() or 1,
                         n_gpu_layers=-1 if gpu else 0, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp cannot load {path}: {exc}") from exc


_PARAMS_LOCK = threading.Lock()


@contextmanager
def _weight_repacking(enabled: bool) -> Iterator[None]:
    """llama.cpp's "extra buffer types" repack weights for the CPU; on AMX CPUs the repacked matmul of the
    llama-cpp-python 0.3.36 build segfaults on the first token (ggml_backend_amx_mul_mat). `Llama` offers no
    argument for it, so while one model loads, its default model params have `use_extra_bufts` off."""
    if enabled:
        yield
        return
    import llama_cpp.llama_cpp as low

    with _PARAMS_LOCK:
        defaults = low.llama_model_default_params

        def without_repacking() -> Any:
            params = defaults()
            if hasattr(params, "use_extra_bufts"):  # older builds have neither the field nor the crash
                params.use_extra_bufts = False
            return params

        low.llama_model_default_params = without_repacking
        try:
            yield
        finally:
            low.llama_model_default_params = defaults
