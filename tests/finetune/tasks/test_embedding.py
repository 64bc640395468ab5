"""embedding: tiny BERT as a sentence-transformers model; the output folder loads with SentenceTransformer."""

from __future__ import annotations

import json
from pathlib import Path

from finetune import rundir
from finetune.config import parse_job
from finetune.runner import export_run, run_job
from tests.support.finetune_data import job_dict, write_jsonl

PAIRS = [
    ("good movie", "a great film"),
    ("bad movie", "an awful film"),
    ("happy story", "a lovely plot"),
    ("sad story", "a dull plot"),
    ("nice plot", "a superb story"),
    ("poor film", "a horrid movie"),
]


def test_embedding_trains_saves_a_sentence_transformer_folder(tiny_bert: Path, tmp_path: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    rows = [{"query": q, "positive": p} for q, p in PAIRS * 4]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"query": q, "positive": p} for q, p in PAIRS])
    run_job(parse_job(job_dict("embedding", tiny_bert, train, dev, tmp_path / "run"), tmp_path))
    run = tmp_path / "run"
    metrics = json.loads((run / rundir.METRICS).read_text())
    assert {"recall@1", "recall@5", "mrr"} <= set(metrics) and metrics["count"] == len(PAIRS)
    assert (run / "adapter" / "adapter_config.json").is_file()
    first = SentenceTransformer(str(run / "model"), device="cpu")
    second = SentenceTransformer(str(run / "model"), device="cpu")
    assert torch.equal(
        first.encode(["good film"], convert_to_tensor=True), second.encode(["good film"], convert_to_tensor=True)
    )
    assert export_run(run, tmp_path / "merged")["equivalent"]


def _batch_texts(batch: dict, tokenizer: object) -> list[str]:
    texts = []
    for role in ("query", "positive", "negative"):
        if f"{role}_input_ids" in batch:
            texts += tokenizer.batch_decode(batch[f"{role}_input_ids"], skip_special_tokens=True)  # type: ignore[attr-defined]
    return texts


def test_training_batches_never_hold_the_same_text_twice(tiny_bert: Path, tmp_path: Path) -> None:
    """Two copies of a text in one batch make a query's own positive one of its in-batch negatives."""
    from finetune.runner import load_splits
    from finetune.tasks import get_task
    from finetune.training import build_trainer

    rows = [{"query": q, "positive": p, "negative": PAIRS[(i + 1) % len(PAIRS)][1]}
            for i, (q, p) in enumerate(PAIRS)] * 4
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    job = parse_job(job_dict("embedding", tiny_bert, train, train, tmp_path / "run", batch_size=4), tmp_path)
    task = get_task("embedding")
    splits = load_splits(job, task)
    prepared = task.prepare(job, tiny_bert, splits.train_records, splits.validation_records)
    trainer = build_trainer(job, prepared, tmp_path / "run", [])
    seen = 0
    for batch in trainer.get_train_dataloader():
        texts = _batch_texts(batch, prepared.tokenizer)
        assert len(texts) == len(set(texts)), texts
        seen += len(batch["query_input_ids"])
    assert seen == len(rows)  # every row trained on, none dropped to avoid a duplicate


def test_mini_batches_give_the_whole_batch_loss_and_gradients(tiny_bert: Path, tmp_path: Path) -> None:
    """`mini_batch_size` (GradCache) bounds memory to a mini-batch without changing what is learned: the same
    loss and the same gradients as embedding the whole batch at once (float32; dropout off, as its masks are
    drawn per mini-batch)."""
    import torch

    from finetune.runner import load_splits
    from finetune.tasks import get_task

    rows = [{"query": q, "positive": p, "negative": PAIRS[(i + 1) % len(PAIRS)][1]} for i, (q, p) in enumerate(PAIRS)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    results = []
    for mini in (None, 2):
        raw = job_dict("embedding", tiny_bert, train, train, tmp_path / f"run{mini}", batch_size=6)
        raw["train"].update(mini_batch_size=mini, bf16=False)
        job = parse_job(raw, tmp_path)
        task = get_task("embedding")
        splits = load_splits(job, task)
        torch.manual_seed(0)  # the same LoRA initialisation on both sides
        prepared = task.prepare(job, tiny_bert, splits.train_records, splits.validation_records)
        batch = prepared.collator([prepared.train[0]])
        cached_loss = "Cached" in type(prepared.model.__dict__["loss"]).__mro__[1].__name__
        assert cached_loss == (mini is not None)
        prepared.model.eval()  # no dropout; gradients still flow
        loss = prepared.model(**batch)["loss"]
        loss.backward()
        grads = {n: p.grad.clone() for n, p in prepared.model.named_parameters() if p.grad is not None}
        results.append((loss.item(), grads))
    (whole, whole_grads), (cached, cached_grads) = results
    assert abs(whole - cached) < 1e-5
    assert whole_grads.keys() == cached_grads.keys() and whole_grads
    for name, grad in whole_grads.items():
        assert torch.allclose(grad, cached_grads[name], atol=1e-5), name


def test_the_tuned_model_keeps_the_base_window_and_model_arguments(tiny_bert: Path, tmp_path: Path) -> None:
    """sentence-transformers saves neither; the training length (64 here) must not become the search window."""
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    (base / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 100,
                                                                "model_args": {"add_pooling_layer": False}}))
    rows = [{"query": q, "positive": p} for q, p in PAIRS * 2]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    raw = job_dict("embedding", base, train, train, tmp_path / "run")
    raw["train"]["max_length"] = 64
    run_job(parse_job(raw, tmp_path))
    saved = json.loads((tmp_path / "run" / "model" / "sentence_bert_config.json").read_text())
    assert saved["max_seq_length"] == 100 and saved["model_args"] == {"add_pooling_layer": False}
