"""LoRA target modules per architecture and the PEFT config built from a job's `lora` section.

The defaults adapt every linear layer of the attention and MLP blocks (not just query/value): on small
encoders such as MiniLM this is what makes a LoRA run close the gap to full fine-tuning.
"""

from __future__ import annotations

from typing import Any

from finetune.config import LoraSettings
from finetune.errors import JobConfigError

# Suffixes matched by PEFT against module names ("a.b.query" matches "query").
TARGET_MODULES: dict[str, list[str]] = {
    "bert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "roberta": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "xlm-roberta": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "electra": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "mpnet": ["q", "k", "v", "o", "intermediate.dense", "output.dense"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    "t5": ["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"],
    "mt5": ["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"],
    "bart": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}

# Classification heads that are new (randomly initialised) and must be trained and saved in full.
HEAD_MODULES = ("pre_classifier", "classifier", "score")
# BERT's pooler feeds the head; sentence-transformers checkpoints never trained it for classification.
POOLER_MODULES = ("pooler",)


def target_modules(model_type: str, setting: str | list[str]) -> str | list[str]:
    """The modules LoRA adapts: the job's list, `all-linear`, or the table entry for the architecture."""
    if isinstance(setting, list):
        return setting
    if setting == "all-linear":
        return "all-linear"
    return TARGET_MODULES.get(model_type, "all-linear")


def present_heads(model: Any, names: tuple[str, ...]) -> list[str]:
    """Which of `names` are direct children of the model (the base model's head, if any)."""
    children = {name for name, _ in model.named_children()}
    return [name for name in names if name in children]


def peft_config(
    settings: LoraSettings, model_config: Any, task_type: str, modules_to_save: list[str] | None = None
) -> Any:
    """A peft.LoraConfig for the architecture (`model_config`: the model's transformers config); GPT-2's Conv1D
    layers need fan_in_fan_out."""
    from peft import LoraConfig

    model_type = model_config.model_type
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,  # type: ignore[arg-type]  # peft accepts a float scale
        lora_dropout=settings.dropout,
        target_modules=target_modules(model_type, settings.target_modules),
        modules_to_save=modules_to_save or None,
        task_type=task_type,
        fan_in_fan_out=model_type == "gpt2",
        layers_to_transform=top_layer_indices(settings.top_layers, model_config),
    )


def top_layer_indices(top: int | None, model_config: Any) -> list[int] | None:
    """The indices of the top `top` transformer layers (None: every layer)."""
    if top is None:
        return None
    count = layer_count(model_config)
    if count is None:
        raise JobConfigError(
            f"lora.top_layers: the {model_config.model_type} config names no layer count "
            "(num_hidden_layers / n_layer / num_layers); remove top_layers to adapt every layer"
        )
    if top > count:
        raise JobConfigError(f"lora.top_layers is {top} but the model has {count} layers; use 1..{count}")
    return list(range(count - top, count))


def layer_count(model_config: Any) -> int | None:
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(model_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
