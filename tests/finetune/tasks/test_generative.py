"""causal (tiny Llama) and seq2seq (tiny T5): train a few steps, save, reload, same outputs, merge check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune import rundir
from finetune.config import parse_job
from finetune.runner import export_run, run_job
from tests.support.finetune_data import job_dict, write_jsonl

CAPITALS = [
    ("France", "Paris"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Japan", "Tokyo"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Kenya", "Nairobi"),
    ("Egypt", "Cairo"),
]


def qa_rows() -> list[dict]:
    rows: list[dict] = []
    for i, (country, city) in enumerate(CAPITALS * 3):
        question = f"what is the capital of {country}"
        if i % 3 == 0:
            rows.append({"prompt": question, "response": city})
        elif i % 3 == 1:
            rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": city}]})
        else:
            rows.append({"instruction": "answer the question", "input": question, "output": city})
    return rows


@pytest.fixture(scope="module")
def causal_run(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("causal")
    train = write_jsonl(folder / "train.jsonl", qa_rows())
    raw = job_dict("causal", tiny_llama, train, None, folder / "run", max_length=64, max_new_tokens=4)
    run_job(parse_job(raw, folder))
    return folder / "run"


def test_causal_masks_everything_but_the_answer(tiny_llama: Path) -> None:
    from finetune.tasks.causal import IGNORE, encode, load_tokenizer

    tokenizer = load_tokenizer(tiny_llama)
    messages = [{"role": "user", "content": "what is the capital of Peru"}, {"role": "assistant", "content": "Lima"}]
    ids, labels = encode(tokenizer, messages)
    learnt = tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != IGNORE])
    assert learnt == "Lima<|im_end|>\n"
    assert tokenizer.decode(ids).startswith("<|im_start|>user\nwhat is the capital of Peru")


def test_causal_run_records_template_and_reloads(causal_run: Path) -> None:
    import torch

    from finetune.tasks.causal import CausalRun

    assert (causal_run / rundir.CHAT_TEMPLATE).read_text().startswith("{% for message in messages %}")
    metrics = json.loads((causal_run / rundir.METRICS).read_text())
    assert {"loss", "perplexity", "samples", "eval_loss_before"} <= set(metrics)
    assert metrics["loss"] < metrics["eval_loss_before"]
    first, second = CausalRun(causal_run), CausalRun(causal_run)
    probe = [[{"role": "user", "content": "what is the capital of Chile"}]]
    assert torch.equal(first.probe_logits(first.model, probe), second.probe_logits(second.model, probe))
    assert first.generate(probe[0]) == second.generate(probe[0])


def test_causal_merge_export_is_equivalent(causal_run: Path, tmp_path: Path) -> None:
    report = export_run(causal_run, tmp_path / "merged")
    assert report["equivalent"] and report["max_abs_diff_adapter_vs_base"] > report["tolerance"]


def test_gguf_base_model_is_refused(tmp_path: Path) -> None:
    from finetune.errors import ModelLoadError
    from finetune.models import resolve_base_model

    with pytest.raises(ModelLoadError, match="quantized"):
        resolve_base_model(str(tmp_path / "model.Q4_1.gguf"))


def test_seq2seq_trains_reloads_and_merges(tiny_t5: Path, tmp_path: Path) -> None:
    import torch

    from finetune.tasks.seq2seq import Seq2SeqRun

    rows = [{"input": f"capital of {country}", "target": city} for country, city in CAPITALS * 3]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    raw = job_dict("seq2seq", tiny_t5, train, None, tmp_path / "run", max_target_length=8)
    run_job(parse_job(raw, tmp_path))
    metrics = json.loads((tmp_path / "run" / rundir.METRICS).read_text())
    assert {"rougeL", "exact_match"} <= set(metrics)
    first, second = Seq2SeqRun(tmp_path / "run"), Seq2SeqRun(tmp_path / "run")
    assert first.generate(["capital of Peru"]) == second.generate(["capital of Peru"])
    assert torch.equal(
        first.probe_logits(first.model, ["capital of Peru"]), second.probe_logits(second.model, ["capital of Peru"])
    )
    assert export_run(tmp_path / "run", tmp_path / "merged")["equivalent"]
