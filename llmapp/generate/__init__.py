"""Text generation behind one small protocol, with interchangeable backends.

    from llmapp.generate import GeneratorConfig, open_generator
    generator = open_generator(GeneratorConfig(backend="extractive"))
    for piece in generator.stream([{"role": "user", "content": "Hi"}], max_tokens=64):
        ...

Backends: `llamacpp` (GGUF through llama-cpp-python; the default for the shipped SmolLM2 when installed),
`transformers` (HF folders or GGUF files, PEFT adapters, GPUs), `openai` (any OpenAI-compatible server),
`extractive` (no language model) and `fake` (deterministic, for tests and examples). Importing this package
imports no model library; a backend's libraries are imported when it is opened.
"""

from llmapp.generate.base import (
    GenerationOptions,
    Generator,
    Message,
    PassageAnswerer,
    options_from,
)
from llmapp.generate.extractive import ExtractiveGenerator
from llmapp.generate.fake import FakeGenerator
from llmapp.generate.registry import (
    GeneratorConfig,
    backend_names,
    open_generator,
    register_backend,
    resolve_backend,
)

__all__ = [
    "ExtractiveGenerator",
    "FakeGenerator",
    "GenerationOptions",
    "Generator",
    "GeneratorConfig",
    "Message",
    "PassageAnswerer",
    "backend_names",
    "open_generator",
    "options_from",
    "register_backend",
    "resolve_backend",
]
