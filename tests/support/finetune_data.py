"""Small data, hand-written model configs and tokenizers trained here for the fine-tuning tests (nothing downloaded)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

POSITIVE = ["good", "great", "happy", "excellent", "lovely", "fine", "nice", "superb"]
NEGATIVE = ["bad", "awful", "sad", "terrible", "poor", "horrid", "nasty", "dull"]
FILLER = ["the", "movie", "was", "really", "quite", "a", "plot", "story", "film", "and", "very", "so"]
CHINESE = ["这部", "电影", "很", "好", "差", "非常", "喜欢", "讨厌"]


def corpus() -> list[str]:
    rng = random.Random(0)
    words = POSITIVE + NEGATIVE + FILLER + CHINESE + ["question", "answer", "what", "is", "capital", "of"]
    return [" ".join(rng.choice(words) for _ in range(12)) for _ in range(400)]


def sentiment_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        positive = rng.random() < 0.5
        cue = rng.choice(POSITIVE if positive else NEGATIVE)
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 10))]
        words.insert(rng.randint(0, len(words)), cue)
        rows.append({"text": " ".join(words), "label": "pos" if positive else "neg"})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def wordpiece_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    fast.save_pretrained(folder)


def bpe_tokenizer(folder: Path, eos: str, pad: str, extra: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", pad, eos, *extra]
    tok.train_from_iterator(
        corpus(),
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token=pad, eos_token=eos, model_max_length=256
    )
    fast.save_pretrained(folder)
    return fast


def job_dict(task: str, base: Path, train: Path, validation: Path | None, out: Path, **train_opts: Any) -> dict:
    settings = {
        "epochs": 1,
        "batch_size": 8,
        "learning_rate": 5e-3,
        "max_length": 32,
        "seed": 7,
        "logging_steps": 2,
    }
    settings.update(train_opts)
    return {
        "task": task,
        "base_model": str(base),
        "data": {"train": str(train), **({"validation": str(validation)} if validation else {})},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "train": settings,
        "output_dir": str(out),
    }
