"""Frozen-layer cache: the outputs of the layers below `lora.top_layers` computed once per text.

With `lora.top_layers: N` the layers below the top N carry no adapter and are frozen, so what they make of a
training text is the same in every epoch. `lora.cache_frozen: true` keeps that output the first time a text
is seen and, from then on, feeds it straight to the adapted layers: after the first epoch a step runs only the
top N layers forward and backward (e5-small, top 4 of 12: about half the step). Dropout is off below the
adapted layers (their output must not depend on a random mask); the adapted layers and the head keep theirs.

    with frozen_layer_cache(model, first_adapted=8) as cache:
        trainer.train()
    cache.rows, cache.nbytes       # texts held and their memory (tokens x hidden size x 4 bytes)

Supported: BERT-style encoders (an `embeddings` module and `encoder.layer`: BERT, RoBERTa, XLM-R, ELECTRA,
e5, MiniLM). The cache lives in memory for the training only; nothing is persisted, a resumed run rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from finetune.errors import JobConfigError


class FrozenLayerCache:
    """Per-text outputs of the frozen layers, keyed by the text's tokens (ids and token types, padding left out)."""

    def __init__(self) -> None:
        self.store: dict[bytes, Any] = {}
        self.keys: list[bytes] | None = None  # the current batch's rows; None: this call is not cacheable
        self.masks: Any = None
        self.hits = 0
        self.misses = 0

    @property
    def rows(self) -> int:
        return len(self.store)

    @property
    def nbytes(self) -> int:
        return sum(int(value.numel() * value.element_size()) for value in self.store.values())

    def capture(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Forward pre-hook of the backbone: remembers the batch's token ids and mask."""
        import torch

        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None or kwargs.get("position_ids") is not None or kwargs.get("inputs_embeds") is not None:
            self.keys = None  # embeddings given directly, or positions of the caller's own: compute as usual
            return
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        types = kwargs.get("token_type_ids", args[2] if len(args) > 2 else None)
        masks = (mask if mask is not None else torch.ones_like(ids)).bool()
        keys = []
        for row in range(ids.shape[0]):
            key = ids[row][masks[row]].cpu().numpy().tobytes()
            if types is not None:
                key += b"|" + types[row][masks[row]].cpu().numpy().tobytes()
            keys.append(key)
        self.keys, self.masks = keys, masks

    def lookup(self, like: Any) -> Any | None:
        """The batch's frozen output from the cache (a tensor shaped like `like`), or None on any miss."""
        import torch

        if self.keys is None or any(key not in self.store for key in self.keys):
            return None
        out = torch.zeros_like(like)
        for row, key in enumerate(self.keys):
            out[row, self.masks[row]] = self.store[key].to(out.dtype)
        self.hits += 1
        return out

    def keep(self, hidden: Any) -> None:
        """Stores each row's output at its real (unpadded) positions."""
        if self.keys is None:
            return
        self.misses += 1
        for row, key in enumerate(self.keys):
            if key not in self.store:
                self.store[key] = hidden[row, self.masks[row]].detach().float().clone()


def _stack_module(layers: list[Any], cache: FrozenLayerCache) -> Any:
    import torch

    class FrozenStack(torch.nn.Module):
        """Stands in for the first frozen layer: runs all of them (no gradient, dropout off) or reads the cache."""

        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(layers)

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            cached = cache.lookup(hidden_states)
            if cached is not None:
                return cached
            modes = [layer.training for layer in self.layers]
            with torch.no_grad():
                for layer in self.layers:
                    layer.eval()
                    hidden_states = layer(hidden_states, *args, **kwargs)
                    if not isinstance(hidden_states, torch.Tensor):
                        raise JobConfigError(
                            "lora.cache_frozen: this model's layers do not return a plain tensor; "
                            "remove cache_frozen to train it"
                        )
            for layer, mode in zip(self.layers, modes, strict=True):
                layer.train(mode)
            cache.keep(hidden_states)
            return hidden_states

    class Skipped(torch.nn.Module):
        """Stands in for a frozen layer the stack already ran."""

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            return hidden_states

    return FrozenStack(), Skipped


def backbone_of(model: Any) -> Any:
    """The encoder backbone (with `embeddings` and `encoder.layer`) of a plain or PEFT-wrapped model."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(base, getattr(base, "base_model_prefix", ""), base)
    layers = getattr(getattr(backbone, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or getattr(backbone, "embeddings", None) is None:
        kind = getattr(getattr(base, "config", None), "model_type", type(base).__name__)
        raise JobConfigError(
            f"lora.cache_frozen works for BERT-style encoders (embeddings + encoder.layer); {kind} is not one: "
            "remove cache_frozen (top_layers alone still stops backpropagation under the adapted layers)"
        )
    return backbone


@contextmanager
def frozen_layer_cache(model: Any, first_adapted: int) -> Iterator[FrozenLayerCache]:
    """Layers [0, first_adapted) of the model's encoder run once per text while the context is open; the model
    is restored on exit (the saved adapter's module names are those of the plain model)."""
    import torch

    backbone = backbone_of(model)
    layers = backbone.encoder.layer
    if not 0 < first_adapted < len(layers):
        raise JobConfigError(
            f"lora.cache_frozen: the first adapted layer is {first_adapted} of {len(layers)}; nothing below it "
            "to cache (top_layers must be smaller than the layer count)"
        )
    cache = FrozenLayerCache()
    original = list(layers)
    stack, skipped = _stack_module(original[:first_adapted], cache)
    dropouts = [m for m in backbone.embeddings.modules() if isinstance(m, torch.nn.Dropout)]
    rates = [m.p for m in dropouts]
    hook = backbone.register_forward_pre_hook(cache.capture, with_kwargs=True)
    for index in range(first_adapted):
        layers[index] = stack if index == 0 else skipped()
    for module in dropouts:
        module.p = 0.0  # the embeddings feed the cached layers: no random mask under them either
    try:
        yield cache
    finally:
        hook.remove()
        for index, layer in enumerate(original[:first_adapted]):
            layers[index] = layer
        for module, rate in zip(dropouts, rates, strict=True):
            module.p = rate
