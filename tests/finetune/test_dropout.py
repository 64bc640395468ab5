"""`train.dropout`: the checkpoint's dropout layers set for training, LoRA's own left to `lora.dropout`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finetune.config import parse_job
from finetune.models import set_dropout
from finetune.runner import run_job
from tests.support.finetune_data import job_dict


def _dropouts(model: Any) -> dict[str, float]:
    import torch

    return {name: m.p for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}


def test_set_dropout_sets_the_model_layers_and_keeps_loras(tiny_bert: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    model = get_peft_model(AutoModel.from_pretrained(tiny_bert),
                           LoraConfig(r=2, lora_alpha=4, lora_dropout=0.3, target_modules=["query", "value"]))
    before = _dropouts(model)
    assert set_dropout(model, 0.0) == sum(1 for name in before if "lora_dropout" not in name) > 0
    after = _dropouts(model)
    assert all(p == 0.3 for name, p in after.items() if "lora_dropout" in name)
    assert all(p == 0.0 for name, p in after.items() if "lora_dropout" not in name)
    model.train()  # LoRA's B starts at zero, so only the model's own dropout can change an output here
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    assert torch.equal(model(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state)
    set_dropout(model, 0.5)  # attention dropout included: transformers reads the layer's p at each call
    assert not torch.equal(model(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state)


@pytest.mark.parametrize("dropout", [None, 0.0])
def test_a_job_trains_with_the_dropout_it_asks_for(
    tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path, dropout: float | None
) -> None:
    from transformers import BertConfig, TrainerCallback

    seen: list[dict[str, float]] = []

    class Record(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            seen.append(_dropouts(model))

    raw = job_dict("classification", tiny_bert, *sentiment_files, tmp_path / "run", max_steps=1, dropout=dropout)
    run_job(parse_job(raw, tmp_path), callbacks=[Record()])
    checkpoint = BertConfig.from_pretrained(tiny_bert).hidden_dropout_prob
    model_layers = {name: p for name, p in seen[0].items() if "lora_dropout" not in name}
    assert model_layers and set(model_layers.values()) == {checkpoint if dropout is None else dropout}
