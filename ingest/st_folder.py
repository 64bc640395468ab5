"""A sentence-transformers folder of the common shape, run with transformers alone.

Most embedding folders (e5, bge, all-MiniLM, a `finetune` export) hold one Transformer module, one Pooling module
and maybe a Normalize module. Loading such a folder through `SentenceTransformer` costs every command that embeds
about 2.5 s before its first vector on this project's 2-core machine: importing sentence-transformers (1.3 s: it
pulls in scikit-learn and scipy) and a second copy of the tokenizer (1.2 s for e5-small's 250k pieces; the
chunker has loaded one already). `plain_layout` recognises such a folder from its JSON files alone, and
`PlainSentenceModel` runs the same forward pass on the same token ids with the same pooling, so the vectors are
the ones `SentenceTransformer` gives (tested bit for bit). Anything else (a Dense layer, an adapter folder,
lower-casing, pooling other than mean/cls/max, a custom module) returns None here and loads through
`SentenceTransformer` as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

Pooling = Literal["mean", "cls", "max"]
TRANSFORMER_TYPES = {"sentence_transformers.models.Transformer",
                     "sentence_transformers.base.modules.transformer.Transformer"}
POOLING_TYPES = {"sentence_transformers.models.Pooling",
                 "sentence_transformers.sentence_transformer.modules.pooling.Pooling"}
NORMALIZE_TYPES = {"sentence_transformers.models.Normalize",
                   "sentence_transformers.base.modules.normalize.Normalize"}
# pooling_mode_* flags of a Pooling config (sentence-transformers < 6) and the mode each names
_POOLING_FLAGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
_SENTENCE_BERT_KEYS = {"max_seq_length", "do_lower_case", "model_args"}
# what sentence-transformers >= 6 writes for a text encoder's Transformer module, and nothing else is run here
_TEXT_ENCODER = {"transformer_task": "feature-extraction", "module_output_name": "token_embeddings",
                 "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}}
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


@dataclass(frozen=True)
class PlainLayout:
    """What a plain folder asks of its forward pass: the pooling, whether it normalises, its own sequence limit
    (None: the tokenizer's, capped at the model's positions) and keyword arguments for `AutoModel`."""

    pooling: Pooling = "mean"
    normalize: bool = False
    max_seq_length: int | None = None
    model_args: dict[str, Any] = field(default_factory=dict)


def plain_layout(path: Path) -> PlainLayout | None:
    """The folder's layout if this module can run it exactly as `SentenceTransformer` does, else None.

    A folder without modules.json is a plain Hugging Face model, which `SentenceTransformer` gives mean pooling."""
    if (path / "adapter_config.json").exists():
        return None  # a PEFT adapter: sentence-transformers resolves its base model
    sentence_bert = _json(path / "sentence_bert_config.json", missing={})
    if not isinstance(sentence_bert, dict) or sentence_bert.get("do_lower_case"):
        return None
    if set(sentence_bert) - _SENTENCE_BERT_KEYS - set(_TEXT_ENCODER):
        return None
    if any(key in sentence_bert and sentence_bert[key] != value for key, value in _TEXT_ENCODER.items()):
        return None
    model_args = sentence_bert.get("model_args") or {}
    if not isinstance(model_args, dict) or "trust_remote_code" in model_args:
        return None
    max_seq_length = sentence_bert.get("max_seq_length")
    if max_seq_length is not None and not isinstance(max_seq_length, int):
        return None
    modules = _json(path / "modules.json", missing=[])
    if not isinstance(modules, list):
        return None
    if not modules:
        return PlainLayout(max_seq_length=max_seq_length, model_args=model_args)
    types = [str(module.get("type", "")) if isinstance(module, dict) else "" for module in modules]
    if len(types) not in (2, 3) or types[0] not in TRANSFORMER_TYPES or modules[0].get("path", "") != "":
        return None
    if types[1] not in POOLING_TYPES or (len(types) == 3 and types[2] not in NORMALIZE_TYPES):
        return None
    pooling = _pooling_mode(_json(path / str(modules[1].get("path", "")) / "config.json", missing=None))
    if pooling is None:
        return None
    return PlainLayout(pooling, len(types) == 3, max_seq_length, model_args)


def _pooling_mode(config: Any) -> Pooling | None:
    if not isinstance(config, dict):
        return None
    mode = config.get("pooling_mode")
    if mode is None:
        named = [_POOLING_FLAGS[key] for key, value in config.items() if key in _POOLING_FLAGS and value]
        mode = named[0] if len(named) == 1 else None
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    modes: dict[Any, Pooling] = {"mean": "mean", "cls": "cls", "max": "max"}
    return modes.get(mode) if isinstance(mode, str) else None


def _json(path: Path, missing: Any) -> Any:
    """A JSON file's content; `missing` when there is no such file, None when it cannot be read (the caller then
    leaves the folder to sentence-transformers, whose error says what is wrong)."""
    if not path.is_file():
        return missing
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


class PlainSentenceModel(torch.nn.Module):
    """A Transformer, a Pooling and maybe a Normalize module of sentence-transformers, as one module:
    `preprocess(texts)` gives the features `forward(features)["sentence_embedding"]` embeds."""

    def __init__(self, auto_model: Any, tokenizer: Any, layout: PlainLayout) -> None:
        super().__init__()
        self.auto_model = auto_model
        self.tokenizer = tokenizer
        self.layout = layout
        positions = getattr(auto_model.config, "max_position_embeddings", -1)
        if layout.max_seq_length is not None:
            tokenizer.model_max_length = layout.max_seq_length
        elif positions != -1:
            tokenizer.model_max_length = min(tokenizer.model_max_length, positions)
        self.max_seq_length = int(tokenizer.model_max_length)

    @classmethod
    def load(cls, path: Path, layout: PlainLayout, tokenizer: Any, device: str | None = None) -> PlainSentenceModel:
        """The folder's model on `device` (None: CUDA when there is one, else the CPU, as sentence-transformers
        chooses), in eval mode; `tokenizer` is the folder's, already loaded."""
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=False,
                                          **layout.model_args)
        plain = cls(model, tokenizer, layout)
        return plain.to(device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def preprocess(self, texts: list[str]) -> dict[str, Any]:
        return dict(self.tokenizer(texts, padding=True, truncation="longest_first", return_tensors="pt",
                                   max_length=self.max_seq_length))

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        inputs = {key: features[key] for key in _MODEL_INPUTS if key in features}
        tokens = self.auto_model(**inputs, return_dict=True).last_hidden_state
        mask = features["attention_mask"]
        vectors = _pool(tokens, mask, self.layout.pooling)
        if self.layout.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        return {**features, "token_embeddings": tokens, "sentence_embedding": vectors}


def _pool(tokens: torch.Tensor, mask: torch.Tensor, mode: Pooling) -> torch.Tensor:
    """sentence-transformers' Pooling over the unmasked tokens, the same operations in the same order."""
    if mode == "cls":
        first = mask.to(torch.int).argmax(dim=1)
        return torch.gather(tokens, 1, first.unsqueeze(-1).unsqueeze(1).expand(-1, 1, tokens.shape[-1])).squeeze(1)
    if mode == "max":
        expanded = mask.unsqueeze(-1).expand_as(tokens).to(tokens.dtype)
        return tokens.masked_fill(expanded == 0, float("-inf")).max(dim=1).values
    accumulate = torch.float32 if tokens.dtype in (torch.float16, torch.bfloat16) else tokens.dtype
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    total = (tokens * weights).sum(dim=1, dtype=accumulate)
    count = torch.clamp(weights.sum(dim=1, dtype=accumulate), min=1e-9)
    return (total / count).to(tokens.dtype)
