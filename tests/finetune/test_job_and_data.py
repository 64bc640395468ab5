"""Job validation and bad-data reporting: no model is loaded for any of these."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from finetune.config import load_job, parse_job
from finetune.data import load_records, read_rows, split_records
from finetune.errors import DataError, JobConfigError
from finetune.lora import target_modules
from finetune.metrics import classification_metrics, retrieval_metrics, rouge_l
from finetune.tasks.causal import row_messages
from finetune.tasks.classification import TASK as CLASSIFICATION
from finetune.tasks.classification import ordered_labels

BASE = {"task": "classification", "base_model": "minilm", "data": {"train": "t.tsv"}, "output_dir": "runs/x"}


def test_unknown_keys_are_rejected_with_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError) as error:
        parse_job({**BASE, "train": {"learning_rat": 1e-4}}, tmp_path)
    assert "unknown key 'train.learning_rat'" in str(error.value)
    assert "learning_rate" in str(error.value) and "batch_size" in str(error.value)
    with pytest.raises(JobConfigError, match="allowed at the top level: task, base_model"):
        parse_job({**BASE, "epochs": 3}, tmp_path)


def test_job_paths_resolve_against_the_yaml_folder(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        "task: classification\nbase_model: minilm\ndata: {train: data/train.tsv}\nlora: null\noutput_dir: runs/a\n"
    )
    job = load_job(tmp_path / "job.yaml")
    assert job.data.train == tmp_path / "data" / "train.tsv" and job.output_dir == tmp_path / "runs" / "a"
    assert job.lora is None and job.train.learning_rate == 2e-4


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "train.tsv"
    good = "".join(f"fine movie {i}\tpos\n" for i in range(40))
    path.write_text("sentence\tlabel\n" + good + "\tneg\nonly one field\nawful\tneg\n", encoding="utf-8")
    parse = CLASSIFICATION.parser(
        parse_job({**BASE, "data": {"train": str(path), "text_column": "sentence"}}, tmp_path).data
    )
    with caplog.at_level(logging.WARNING, logger="finetune.data"):
        loaded = load_records(path, parse, max_bad_fraction=0.1)
    assert [(p.line, p.reason) for p in loaded.problems] == [
        (42, "missing field 'sentence'"),
        (43, "1 fields where the header has 2"),
    ]
    assert len(loaded.records) == 41 and "line 42" in caplog.text


def test_unknown_labels_in_validation_are_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "dev.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 7}\n' * 10, encoding="utf-8")
    data = parse_job({**BASE, "data": {"train": str(path)}}, tmp_path).data
    with pytest.raises(DataError, match=r"10 of 20 rows are bad.*line 2: unknown label '7'"):
        load_records(path, CLASSIFICATION.parser(data, ["0", "1"]), max_bad_fraction=0.05)


def test_readers_number_lines_across_formats(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('text,label\n"two\nlines",1\nplain,0\n', encoding="utf-8")
    rows = list(read_rows(tmp_path / "a.csv"))
    assert [(r.line, r.fields["text"]) for r in rows] == [(2, "two\nlines"), (4, "plain")]  # type: ignore[union-attr]
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n\nnot json\n', encoding="utf-8")
    assert [r.line for r in read_rows(tmp_path / "b.jsonl")] == [1, 3]
    with pytest.raises(DataError, match="unsupported format"):
        read_rows(tmp_path / "a.parquet")


def test_causal_formats_become_the_same_chat(tmp_path: Path) -> None:
    data = parse_job({**BASE, "task": "causal", "data": {"train": "t.jsonl"}}, tmp_path).data
    expected = [{"role": "user", "content": "问题"}, {"role": "assistant", "content": "答案"}]
    assert row_messages({"prompt": "问题", "response": "答案"}, data) == expected
    assert row_messages({"messages": expected}, data) == expected
    assert row_messages({"instruction": "问题", "input": "", "output": "答案"}, data) == expected


def test_labels_split_and_targets() -> None:
    assert ordered_labels({"10", "2", "1"}) == ["1", "2", "10"]
    train, held = split_records(list(range(100)), 0.1, seed=3)
    assert len(held) == 10 and sorted(train + held) == list(range(100))
    assert split_records(list(range(100)), 0.1, seed=3) == (train, held)
    assert "q_proj" in target_modules("llama", "auto") and target_modules("gpt2", "auto") == [
        "c_attn",
        "c_proj",
        "c_fc",
    ]
    assert target_modules("unknown-arch", "auto") == "all-linear"


def test_metrics_definitions() -> None:
    result = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["neg", "pos"])
    assert result["accuracy"] == 0.75 and result["confusion_matrix"]["matrix"] == [[1, 1], [0, 2]]
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert rouge_l("the cat sat", "the cat sat") == 1.0 and rouge_l("北京是首都", "首都是北京") > 0
    assert retrieval_metrics([1, 2, 20], ks=(1, 10)) == {
        "recall@1": 1 / 3,
        "recall@10": 2 / 3,
        "mrr": (1 + 0.5 + 0.05) / 3,
        "count": 3,
    }


def test_unknown_token_share_flags_text_the_vocabulary_does_not_cover(tiny_bert: Path) -> None:
    from transformers import AutoTokenizer

    from finetune.data import UNKNOWN_WARNING, unknown_share

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    english = tokenizer(["a great film", "a terrible plot"], add_special_tokens=False)["input_ids"]
    chinese = tokenizer(["这部电影很好看", "剧情非常糟糕"], add_special_tokens=False)["input_ids"]
    assert unknown_share(tokenizer, english) == 0.0
    share = unknown_share(tokenizer, chinese)
    assert share is not None and share > UNKNOWN_WARNING
    assert unknown_share(tokenizer, []) is None


def test_bf16_on_a_cpu_runs_the_trainer_on_the_cpu_and_auto_follows_the_hardware(tmp_path: Path) -> None:
    import torch

    from finetune.tasks.base import FeatureDataset, Prepared
    from finetune.training import training_arguments, use_bf16
    from llmcommon.cpu import cpu_prefers_bf16

    if torch.cuda.is_available():
        pytest.skip("checks the CPU path")
    empty = FeatureDataset([])
    prepared = Prepared(None, None, empty, empty, collator=list, metric="loss", greater_is_better=False)
    on = training_arguments(parse_job({**BASE, "train": {"bf16": True}}, tmp_path), prepared, tmp_path)
    assert on.bf16 and on.use_cpu  # without use_cpu the Trainer refuses bf16 when no GPU is present
    off = training_arguments(parse_job({**BASE, "train": {"bf16": False}}, tmp_path), prepared, tmp_path)
    assert not off.bf16 and off.use_cpu  # float32 too: torchrun ranks on a CPU need it to start gloo
    assert use_bf16("auto") == cpu_prefers_bf16()


def test_progress_eta_follows_the_mean_step_not_the_last_stretch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import finetune.training as training

    clock = iter([100.0, 110.0, 111.0])  # 10 steps in 10 s, then 10 short-batch steps in 1 s
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    callback = training.RunLogCallback(tmp_path, "accuracy")
    state = SimpleNamespace(is_world_process_zero=True, global_step=0, num_input_tokens_seen=0, max_steps=40,
                            log_history=[])
    callback.on_train_begin(None, state, None)
    caplog.set_level(logging.INFO, logger="finetune.progress")
    for step in (10, 20):
        state.global_step, state.num_input_tokens_seen = step, step * 100
        callback.on_log(None, state, None, logs={"loss": 0.5, "learning_rate": 1e-4})
    callback.on_train_end(None, state, None)
    lines = [r.getMessage() for r in caplog.records if r.name == "finetune.progress"]
    assert lines[0].endswith("100 tokens/s ETA 0m30s")
    # 20 steps left at the mean 0.55 s a step: 11 s (the last stretch alone would say 2 s)
    assert lines[1].endswith("1000 tokens/s ETA 0m11s")
