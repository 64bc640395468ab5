"""`embedding`: a sentence-transformers embedder tuned on (query, positive[, negative]) pairs.

The loss is sentence-transformers' MultipleNegativesRankingLoss (in-batch negatives: every other positive in the
batch, plus the hard negative when given, is a negative for a query), driven by the same HF Trainer loop as the
other tasks so checkpoints, resume and progress behave the same. Batches are formed here, not by the Trainer's
sampler: each dataset item is one batch in which no text appears twice (`distinct_batches`), because a repeated
text in a batch is a false negative for the loss. The result is `<run>/model/`, a complete
SentenceTransformer folder (LoRA merged in) that `SentenceTransformer(path)` and an `ingest` knowledge base can
use as their embedder; with LoRA the adapter is also kept in standard PEFT format in `<run>/adapter/`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune import rundir, runs
from finetune.config import DataConfig, Job
from finetune.data import length_stats, text
from finetune.equivalence import check_merge
from finetune.errors import ModelLoadError
from finetune.lora import count_parameters, peft_config
from finetune.metrics import retrieval_metrics
from finetune.models import training_attention
from finetune.tasks.base import FeatureDataset, Prepared
from finetune.tasks.distinct_batches import distinct_batches

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Triple:
    query: str
    positive: str
    negative: str | None


def load_sentence_transformer(path: Path, attention: str | None = None) -> Any:
    """The folder's SentenceTransformer on the CPU; `attention` picks the kernel (None: the model's default)."""
    from sentence_transformers import SentenceTransformer

    model_kwargs = {"attn_implementation": attention} if attention else None
    return SentenceTransformer(str(path), device="cpu", local_files_only=True, model_kwargs=model_kwargs)


def contrastive_loss(embedder: Any, mini_batch_size: int | None, bf16: bool) -> Any:
    """In-batch-negatives loss; with `mini_batch_size`, its GradCache form (sentence-transformers' cached loss),
    whose re-embedding with gradients runs in the backward pass, outside the Trainer's autocast: it gets its own,
    so that a bf16 job stays bf16."""
    import torch
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    if mini_batch_size is None:
        return MultipleNegativesRankingLoss(embedder)

    class Cached(CachedMultipleNegativesRankingLoss):  # type: ignore[misc]
        def embed_minibatch(self, *args: Any, **kwargs: Any) -> Any:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and not torch.cuda.is_available()):
                return super().embed_minibatch(*args, **kwargs)

    return Cached(embedder, mini_batch_size=mini_batch_size)


def contrastive_model(embedder: Any, mini_batch_size: int | None = None, bf16: bool = False) -> Any:
    """An nn.Module whose forward returns the in-batch-negatives loss, for HF Trainer."""
    import torch

    class Contrastive(torch.nn.Module):
        # HF Trainer counts tokens from this input (see the collator) and asks for the loss in evaluation.
        main_input_name = "real_tokens"

        def __init__(self) -> None:
            super().__init__()
            self.embedder = embedder
            # kept out of the module tree: the loss holds the embedder too, and checkpoints must store it once
            self.__dict__["loss"] = contrastive_loss(embedder, mini_batch_size, bf16)

        def forward(self, return_loss: bool = True, **batch: Any) -> dict[str, Any]:
            groups = [
                {k[len(p) + 1 :]: v for k, v in batch.items() if k.startswith(p + "_")}
                for p in ("query", "positive", "negative")
            ]
            features = [g for g in groups if g]
            loss_fn: Any = self.__dict__["loss"]
            return {"loss": loss_fn(features, None)}

    return Contrastive()


_SIDES = {"query": "query", "positive": "passage", "negative": "passage"}


def with_prompt(embedder: Any, side: str, texts: list[str]) -> list[str]:
    """`texts` behind the model's prompt for `side` ("query" or "passage"; e5: "query: " / "passage: "), the
    way the tuned model is used at search time; unchanged for a model without prompts."""
    prompt = (getattr(embedder, "prompts", None) or {}).get(side, "")
    return [prompt + t for t in texts] if prompt else texts


def collator(embedder: Any, max_length: int) -> Callable[[list[list[dict[str, Any]]]], dict[str, Any]]:
    """Tokenises one pre-formed batch (the Trainer hands over a list holding it): queries, positives and (if
    every row has one) negatives; keys are prefixed by their role."""
    import torch

    def collate(items: list[list[dict[str, Any]]]) -> dict[str, Any]:
        rows = [row for batch in items for row in batch]
        roles = ["query", "positive"] + (["negative"] if all(r["negative"] for r in rows) else [])
        batch: dict[str, Any] = {}
        tokens = 0
        for role in roles:
            encoded = embedder.tokenizer(
                with_prompt(embedder, _SIDES[role], [r[role] for r in rows]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            tokens += int(encoded["attention_mask"].sum())
            batch.update({f"{role}_{k}": v for k, v in encoded.items()})
        # one entry per real token, never equal to a pad id, so the Trainer's token counter counts them
        batch["real_tokens"] = torch.full((tokens,), -1, dtype=torch.long)
        return batch

    return collate


ST_CONFIG = "sentence_bert_config.json"


def keep_base_settings(base: Path, target: Path) -> None:
    """The saved model keeps the base's search window and model arguments: sentence-transformers writes neither
    back (a tuned e5-small then loaded with a random pooler it does not use, and a warning on every load), and the
    training length (`max_length`, often shorter) must not become the window that search embeds chunks with."""
    import json

    source = base / ST_CONFIG
    wanted = {k: v for k, v in (json.loads(source.read_text()) if source.is_file() else {}).items()
              if k in ("max_seq_length", "model_args")}
    saved = target / ST_CONFIG
    config = json.loads(saved.read_text()) if saved.is_file() else {}
    config.update(wanted)
    if "max_seq_length" not in wanted:
        config.pop("max_seq_length", None)  # the model's own window, as for the base
    saved.write_text(json.dumps(config, indent=2) + "\n")


class EmbeddingTask:
    name = "embedding"

    def parser(self, data: DataConfig, labels: list[str] | None = None) -> Callable[[dict[str, Any]], Triple]:
        def parse(row: dict[str, Any]) -> Triple:
            negative = row.get(data.negative_column)
            return Triple(
                text(row.get(data.query_column), data.query_column),
                text(row.get(data.positive_column), data.positive_column),
                str(negative) if negative not in (None, "") else None,
            )

        return parse

    def labels(self, data: DataConfig, train: list[Triple]) -> list[str] | None:
        return None

    def prepare(self, job: Job, base: Path, train: list[Triple], validation: list[Triple]) -> Prepared:
        from finetune.training import use_bf16  # not at the top: finetune.training imports the tasks

        bf16 = use_bf16(job.train.bf16)
        # eager attention on a CPU under bf16 (finetune.models.training_attention): a kb tune step of 32 triples,
        # 14.8 -> 12.6 s
        embedder = load_sentence_transformer(base, training_attention(job.train.max_length, bf16))
        embedder.max_seq_length = job.train.max_length
        if job.lora is not None:
            from peft import get_peft_model

            inner = embedder[0].auto_model
            embedder[0].model = get_peft_model(
                inner, peft_config(job.lora, inner.config, "FEATURE_EXTRACTION")
            )
        model = contrastive_model(embedder, job.train.mini_batch_size, bf16)
        trainable, total = count_parameters(model)
        lengths = {}
        for name, triples in (("train", train), ("validation", validation)):
            texts = [t.query for t in triples] + [t.positive for t in triples]
            lengths[name] = length_stats(
                [len(ids) for ids in embedder.tokenizer(texts)["input_ids"]], job.train.max_length
            )
        rows = [
            [{"query": t.query, "positive": t.positive, "negative": t.negative} for t in split]
            for split in (train, validation)
        ]
        eval_size = job.train.eval_batch_size or job.train.batch_size
        batches = [distinct_batches(rows[0], job.train.batch_size, job.train.seed),
                   distinct_batches(rows[1], eval_size, job.train.seed)]
        return Prepared(
            model=model,
            tokenizer=embedder.tokenizer,
            train=FeatureDataset(batches[0]),  # items are whole batches
            validation=FeatureDataset(batches[1]),
            collator=collator(embedder, job.train.max_length),
            metric="loss",
            greater_is_better=False,
            lengths=lengths,
            probe=[t.query for t in validation[:8]],
            extra={
                "trainable": trainable,
                "total": total,
                "embedder": embedder,
                "base": base,
                # one dataset item is one batch: the Trainer shuffles batches, never regroups rows
                "training_arguments": {"train_sampling_strategy": "random", "per_device_train_batch_size": 1,
                                       "per_device_eval_batch_size": 1},
            },
        )

    def save(self, prepared: Prepared, model: Any, run_dir: Path) -> None:
        embedder = model.embedder
        inner = embedder[0].auto_model
        if hasattr(inner, "peft_config"):
            inner.save_pretrained(run_dir / rundir.ADAPTER)
            embedder[0].model = inner.merge_and_unload()
        target = run_dir / rundir.MODEL
        if target.exists():
            shutil.rmtree(target)
        embedder.save(str(target))
        keep_base_settings(Path(prepared.extra["base"]), target)
        prepared.tokenizer.save_pretrained(run_dir / rundir.TOKENIZER)

    def load(self, run_dir: Path) -> EmbeddingRun:
        return EmbeddingRun(run_dir)


def ranks(embedder: Any, records: list[Triple]) -> list[int]:
    """1-based rank of each query's positive among all distinct positives and negatives (cosine)."""
    candidates = list(dict.fromkeys([r.positive for r in records] + [r.negative for r in records if r.negative]))
    index = {passage: i for i, passage in enumerate(candidates)}
    queries = embedder.encode(with_prompt(embedder, "query", [r.query for r in records]), convert_to_tensor=True,
                              normalize_embeddings=True)
    passages = embedder.encode(with_prompt(embedder, "passage", candidates), convert_to_tensor=True,
                               normalize_embeddings=True)
    scores = queries @ passages.T
    result = []
    for row, record in enumerate(records):
        gold = scores[row, index[record.positive]]
        result.append(int((scores[row] > gold).sum()) + 1)
    return result


class EmbeddingRun:
    """A tuned embedder: recall@k and MRR on pairs, and the merge check against base + adapter."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.embedder = load_sentence_transformer(run_dir / rundir.MODEL)

    def evaluate(self, records: list[Triple]) -> dict[str, Any]:
        return retrieval_metrics(ranks(self.embedder, records))

    def export(self, out: Path, probe: list[str]) -> dict[str, Any]:
        if not (self.run_dir / rundir.ADAPTER).is_dir():
            raise ModelLoadError(f"{self.run_dir} is a full fine-tune: {self.run_dir / rundir.MODEL} is the model")
        from peft import PeftModel

        reference = load_sentence_transformer(runs.base_model_folder(self.run_dir))
        base_out = reference.encode(probe, convert_to_tensor=True)
        reference[0].model = PeftModel.from_pretrained(reference[0].auto_model, self.run_dir / rundir.ADAPTER)
        reference.eval()
        adapter_out = reference.encode(probe, convert_to_tensor=True)
        shutil.copytree(self.run_dir / rundir.MODEL, out, dirs_exist_ok=True)
        merged_out = load_sentence_transformer(out).encode(probe, convert_to_tensor=True)
        return check_merge(adapter_out, merged_out, base_out)


TASK = EmbeddingTask()
