"""Tiny classifiers built in the test: a WordPiece tokenizer trained on a few sentences and a random 2-layer
BERT with a decisive head (scaled weights, like a trained one), saved as a plain folder or a finetune run."""

from __future__ import annotations

import json
import random
from pathlib import Path

LABELS = ["billing", "shipping", "other"]
WORDS = ("invoice refund charge card payment parcel delivery courier late tracking box hello weather film "
         "music great terrible order price account address week today").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def save_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(sentences(200) + WORDS, trainers.WordPieceTrainer(vocab_size=200,
                                                                                    special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", model_max_length=128).save_pretrained(folder)


def tiny_model(multi_label: bool = False, seed: int = 0) -> object:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
                        problem_type="multi_label_classification" if multi_label else None)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(100.0)  # a trained head separates classes; a fresh one barely does
    return model


def save_folder(folder: Path, multi_label: bool = False) -> Path:
    tiny_model(multi_label).save_pretrained(folder)  # type: ignore[attr-defined]
    save_tokenizer(folder)
    return folder


def save_run(run: Path, base: Path) -> Path:
    """A finetune classification run folder: base model elsewhere, LoRA adapter + head in adapter/."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(base)
    config = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"],
                        modules_to_save=["classifier"])
    peft_model = get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():  # a trained adapter: non-zero B matrices and a changed head
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                param.add_(torch.randn_like(param) * 0.5)
    peft_model.save_pretrained(run / "adapter")
    save_tokenizer(run / "tokenizer")
    (run / "labels.json").write_text(json.dumps({"labels": LABELS, "label2id": {n: i for i, n in
                                                                                enumerate(LABELS)}}))
    (run / "manifest.json").write_text(json.dumps({"schema_version": 1, "task": "classification",
                                                   "base_model": {"path": str(base)},
                                                   "job": {"train": {"max_length": 64}}}))
    return run
