from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune import rundir
from finetune.config import parse_job
from finetune.runner import evaluate_run, export_run, run_job
from tests.support.finetune_data import job_dict


@pytest.fixture(scope="module")
def classification_run(
    tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("cls") / "run"
    raw = job_dict("classification", tiny_bert, *sentiment_files, out, epochs=2)
    run_job(parse_job(raw, out.parent))
    return out


def test_run_folder_has_the_documented_files(classification_run: Path) -> None:
    for name in (
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "tokenizer",
        rundir.LABELS,
        rundir.METRICS,
        rundir.TRAIN_LOG,
        rundir.CURVES,
        rundir.MANIFEST,
        rundir.DATA_REPORT,
        rundir.TENSORBOARD,
    ):
        assert (classification_run / name).exists(), name
    metrics = json.loads((classification_run / rundir.METRICS).read_text())
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(metrics)
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 24
    manifest = json.loads((classification_run / rundir.MANIFEST).read_text())
    assert manifest["status"] == "finished" and len(manifest["base_model"]["sha256"]) == 64
    assert json.loads((classification_run / rundir.LABELS).read_text())["labels"] == ["neg", "pos"]


def test_head_is_saved_with_the_adapter_and_reload_predicts_the_same(classification_run: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from finetune.tasks.classification import ClassificationRun

    first, second = ClassificationRun(classification_run), ClassificationRun(classification_run)
    texts = ["the movie was good", "a bad plot", "so dull and awful"]
    assert torch.equal(first.logits(texts), second.logits(texts))
    # the plain PEFT recipe a user would write gets the same outputs: the head travels with the adapter
    manifest = json.loads((classification_run / rundir.MANIFEST).read_text())
    base = AutoModelForSequenceClassification.from_pretrained(manifest["base_model"]["path"], num_labels=2)
    plain = PeftModel.from_pretrained(base, classification_run / "adapter").eval()
    batch = AutoTokenizer.from_pretrained(classification_run / "tokenizer")(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(plain(**batch).logits, first.logits(texts), atol=1e-6)


def test_eval_on_another_file_reports_metric_names(
    classification_run: Path, sentiment_files: tuple[Path, Path]
) -> None:
    metrics = evaluate_run(classification_run, sentiment_files[0])
    assert metrics["data"]["kept"] == 64 and 0.0 <= metrics["accuracy"] <= 1.0


def test_merged_export_matches_the_adapter(classification_run: Path, tmp_path: Path) -> None:
    report = export_run(classification_run, tmp_path / "merged")
    assert report["equivalent"] and report["max_abs_diff_merged_vs_adapter"] <= report["tolerance"]
    assert (tmp_path / "merged" / "model.safetensors").is_file()


def test_full_finetune_saves_a_model_folder_and_respects_the_size_limit(
    tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    from finetune.errors import JobConfigError
    from finetune.tasks.classification import ClassificationRun

    raw = job_dict("classification", tiny_bert, *sentiment_files, tmp_path / "run", max_steps=3)
    raw["lora"] = None
    run_job(parse_job(raw, tmp_path))
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert not (tmp_path / "run" / "adapter").exists()
    texts = ["the movie was good", "a bad plot"]
    assert torch.equal(
        ClassificationRun(tmp_path / "run").logits(texts), ClassificationRun(tmp_path / "run").logits(texts)
    )
    raw["train"]["full_finetune_max_params"] = 1000
    raw["output_dir"] = str(tmp_path / "too-big")
    with pytest.raises(JobConfigError, match="full_finetune_max_params"):
        run_job(parse_job(raw, tmp_path))


def test_loading_a_run_prints_no_bar_and_no_missing_head_report(classification_run: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    source = tmp_path / "in.csv"
    source.write_text("text\ngreat film\nawful plot\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "llmapp", "classify", str(source), "-o", str(tmp_path / "out.csv"), "--model",
         str(classification_run), "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "MISSING" not in done.stderr, done.stderr
    assert "newly initialized" not in done.stderr, done.stderr


def test_a_checkpoint_without_pooler_starts_its_pooler_as_the_identity(tiny_bert: Path, tmp_path: Path) -> None:
    """e5-small (a sentence-transformers checkpoint) has no pooler: a random one slowed ChnSentiCorp's start."""
    import shutil

    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertModel

    from finetune.tasks.classification import start_pooler_as_identity

    no_pooler = tmp_path / "no-pooler"
    shutil.copytree(tiny_bert, no_pooler)
    BertModel(BertConfig.from_pretrained(tiny_bert), add_pooling_layer=False).save_pretrained(no_pooler)
    model, loading = AutoModelForSequenceClassification.from_pretrained(no_pooler, num_labels=2,
                                                                        output_loading_info=True)
    assert start_pooler_as_identity(model, loading["missing_keys"])
    dense = model.bert.pooler.dense
    torch.testing.assert_close(dense.weight, torch.eye(dense.in_features))
    torch.testing.assert_close(dense.bias, torch.zeros(dense.out_features))

    trained, loading = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2,
                                                                          output_loading_info=True)
    before = trained.bert.pooler.dense.weight.clone()
    assert not start_pooler_as_identity(trained, loading["missing_keys"])  # a trained pooler is kept
    torch.testing.assert_close(trained.bert.pooler.dense.weight, before)


def test_top_layers_adapts_only_the_top_layers_and_backward_stops_below_them(tiny_bert: Path) -> None:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForSequenceClassification

    from finetune.config import LoraSettings
    from finetune.errors import JobConfigError
    from finetune.lora import peft_config

    def adapted(top: int | None) -> Any:
        model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
        settings = LoraSettings(top_layers=top)
        return get_peft_model(model, peft_config(settings, model.config, "SEQ_CLS", ["classifier", "pooler"]))

    def lora_layers(model: Any) -> set[str]:
        return {name.split("layer.")[1].split(".")[0] for name, _ in model.named_parameters() if "lora_A" in name}

    def backward_reaches_layer_0(model: Any) -> bool:
        reached: list[bool] = []
        model.base_model.model.bert.encoder.layer[0].register_full_backward_hook(lambda *_: reached.append(True))
        model(input_ids=torch.tensor([[5, 6, 7, 8]]), labels=torch.tensor([1])).loss.backward()
        assert all(p.grad is not None for name, p in model.named_parameters() if "lora_B" in name)
        return bool(reached)

    every = adapted(None)
    assert lora_layers(every) == {"0", "1"} and backward_reaches_layer_0(every)
    top = adapted(1)
    assert lora_layers(top) == {"1"}
    assert not backward_reaches_layer_0(top)  # the frozen layer below is never back-propagated through
    with pytest.raises(JobConfigError, match="top_layers is 3 but the model has 2 layers"):
        adapted(3)


def test_a_cpu_bf16_job_trains_with_eager_attention_and_its_run_loads_the_default(
    tiny_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    from finetune.models import EAGER_MAX_LENGTH, training_attention
    from finetune.tasks import get_task
    from finetune.tasks.classification import ClassificationRun

    if torch.cuda.is_available():
        pytest.skip("a CUDA host trains with the default kernel")
    raw = job_dict("classification", tiny_bert, *sentiment_files, tmp_path / "run")
    raw["train"]["bf16"] = True  # eager pays off under bf16 autocast only
    job = parse_job(raw, tmp_path)
    task = get_task("classification")
    rows = [task.parser(job.data)({"text": "good film", "label": "pos"})]
    prepared = task.prepare(job, tiny_bert, rows, rows)
    assert prepared.model.get_base_model().config._attn_implementation == "eager"
    # long inputs (eager's matrices grow with length^2) and float32 training keep the default kernel
    assert training_attention(EAGER_MAX_LENGTH + 1, bf16=True) is None
    assert training_attention(64, bf16=False) is None
    run_job(job)
    assert ClassificationRun(tmp_path / "run").model.config._attn_implementation == "sdpa"
