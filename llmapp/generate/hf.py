"""`transformers`: a local Hugging Face causal LM (a folder, or a GGUF file dequantised on load), with an
optional PEFT adapter, on CPU or CUDA (bf16 where the GPU supports it, else fp16; fp32 on CPU). On a CPU, torch
runs `threads` threads (default `llmapp.generate.threads.default_threads()`).

The prompt is the tokenizer's chat template. Streaming runs `model.generate` in a worker thread feeding a
`TextIteratorStreamer`; when the reader stops early (a stop sequence, or it simply stops iterating) a stopping
criterion ends the worker instead of letting it run on to `max_tokens`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmapp.errors import ModelError
from llmapp.generate.base import Message, options_from, stop_at, validate_messages
from llmapp.generate.choices import causal_lm_choice_logprobs
from llmapp.generate.models import resolve_model
from llmapp.generate.registry import GeneratorConfig
from llmapp.generate.threads import default_threads

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 2048  # tokens; the model's own limit applies when it is smaller


class TransformersGenerator:
    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, label: str, context_window: int | None = None) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ModelError(
                f"{label} has no chat template: use an instruction-tuned (chat) model, or set "
                "tokenizer.chat_template in its tokenizer_config.json"
            )
        self._model = model
        self._tokenizer = tokenizer
        self.model = label
        limit = getattr(model.config, "max_position_embeddings", None) or DEFAULT_WINDOW
        self.context_window = min(int(limit), context_window or DEFAULT_WINDOW)

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> TransformersGenerator:
        model, tokenizer, label = load_causal_lm(config)
        return cls(model, tokenizer, label, config.context_window)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def choice_logprobs(self, messages: list[Message], choices: list[str]) -> list[float]:
        """Mean log-probability of each choice as the reply (see `llmapp.generate.choices`)."""
        validate_messages(messages)
        return causal_lm_choice_logprobs(self._model, self._tokenizer, messages, choices)

    def generate(self, messages: list[Message], **opts: Any) -> str:
        return "".join(self.stream(messages, **opts))

    def stream(self, messages: list[Message], **opts: Any) -> Iterator[str]:
        validate_messages(messages)
        options = options_from(opts)
        return stop_at(self._stream(messages, options), options.stop)

    def _stream(self, messages: list[Message], options: Any) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class _Cancelled(StoppingCriteria):
            def __init__(self, event: threading.Event) -> None:
                self.event = event

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return self.event.is_set()

        prompt = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self._model.device)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        kwargs = dict(
            **inputs, streamer=streamer, max_new_tokens=options.max_tokens,
            stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]),
            pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
            repetition_penalty=options.repetition_penalty,
            **_sampling(options),
        )
        if options.stop:
            kwargs.update(stop_strings=list(options.stop), tokenizer=self._tokenizer)
        failure: list[BaseException] = []
        worker = threading.Thread(target=self._run, args=(kwargs, streamer, failure), daemon=True)
        worker.start()
        try:
            for text in streamer:
                if text:
                    yield text
        finally:
            cancel.set()
            worker.join()
        if failure:
            raise ModelError(f"generation with {self.model} failed: {failure[0]}") from failure[0]

    def _run(self, kwargs: dict[str, Any], streamer: Any, failure: list[BaseException]) -> None:
        import torch

        try:
            with torch.inference_mode():
                self._model.generate(**kwargs)
        except Exception as exc:  # re-raised in the reading thread
            failure.append(exc)
            streamer.end()


def _sampling(options: Any) -> dict[str, Any]:
    if options.temperature == 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    return {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p}


def load_causal_lm(config: GeneratorConfig) -> tuple[Any, Any, str]:
    """(model, tokenizer, label) for a folder, a GGUF file or the shipped SmolLM2, adapter applied."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model(config.model, prefer_gguf=False)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = _dtype(config.dtype, device)
    where, gguf = (source.parent, source.name) if source.suffix.lower() == ".gguf" else (source, None)
    extra = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **extra)
        model: Any = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **extra)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a causal language model from {source}: {exc}") from exc
    if config.adapter is not None:
        model = _with_adapter(model, config.adapter)
    model = model.to(device)
    model.eval()
    if device == "cpu":
        torch.set_num_threads(config.threads or default_threads())
    label = str(source) + (f" + {config.adapter}" if config.adapter else "")
    logger.info("loaded %s on %s (%s)", label, device, dtype)
    return model, tokenizer, label


def _dtype(requested: str, device: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if not device.startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _with_adapter(model: Any, adapter: Path) -> Any:
    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter))
