"""llmapp: documents and a few local checkpoints in; knowledge-base chat, batch classification and LoRA out.

    from llmapp import Settings, ingest, load_embedder, open_retriever, open_generator, QAChain

    settings = Settings()                                   # flags > LLMAPP_* > ./llmapp.yaml > defaults
    ingest(settings.kb_path("handbook"), ["docs/"], load_embedder())
    retriever = open_retriever(settings, "handbook")        # hybrid: dense + BM25
    chain = QAChain(retriever, open_generator())            # SmolLM2; GeneratorConfig(backend="extractive"), ...
    answer = chain.invoke("How do I rotate the API key?")   # Answer: text, citations, hits, timings

Names load on first use: `import llmapp` imports neither torch, transformers nor faiss.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmcommon.version import package_version

__version__ = package_version()

_EXPORTS = {
    # configuration and errors
    "Settings": "llmapp.settings",
    "LlmappError": "llmapp.errors",
    "ConfigError": "llmapp.errors",
    # ingestion and the knowledge-base store
    "ingest": "ingest.pipeline",
    "IngestOptions": "ingest.pipeline",
    "KnowledgeBase": "ingest.store",
    "load_embedder": "ingest.embed",
    # retrieval
    "open_retriever": "llmapp.retrieve",
    "Hit": "llmapp.hits",
    # generation and chains
    "open_generator": "llmapp.generate",
    "GeneratorConfig": "llmapp.generate",
    "GenerationOptions": "llmapp.generate",
    "PromptLibrary": "llmapp.prompts",
    "QAChain": "llmapp.chains",
    "ChatChain": "llmapp.chains",
    "Answer": "llmapp.chains",
    # classification
    "Classifier": "llmapp.classify",
    "classify_file": "llmapp.classify",
}

__all__ = [
    "Answer", "ChatChain", "Classifier", "ConfigError", "GenerationOptions", "GeneratorConfig", "Hit", "IngestOptions",
    "KnowledgeBase", "LlmappError", "PromptLibrary", "QAChain", "Settings", "__version__", "classify_file", "ingest",
    "load_embedder", "open_generator", "open_retriever",
]

if TYPE_CHECKING:
    from ingest.embed import load_embedder
    from ingest.pipeline import IngestOptions, ingest
    from ingest.store import KnowledgeBase
    from llmapp.chains import Answer, ChatChain, QAChain
    from llmapp.classify import Classifier, classify_file
    from llmapp.errors import ConfigError, LlmappError
    from llmapp.generate import GenerationOptions, GeneratorConfig, open_generator
    from llmapp.hits import Hit
    from llmapp.prompts import PromptLibrary
    from llmapp.retrieve import open_retriever
    from llmapp.settings import Settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmapp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
