"""Training throughput: our job vs the plain HF Trainer + PEFT script a user would write, same data/settings.

    .venv/bin/python bench/train.py --task classification --data ~/llmapp-examples/data/sst2_train.tsv --steps 40
    .venv/bin/python bench/train.py --task causal --steps 20            # SmolLM2 on synthetic Q/A pairs

Each side runs in its own subprocess (peak RSS is per process). Reported per side: train tokens/s (real,
non-padding tokens), peak RSS, padding ratio (padded positions / all positions of the batches the sampler
yields), and LoRA-correct MFU = 4 x params x tokens/s / peak FLOP/s (frozen weights need no weight gradients,
so a LoRA step costs ~4, not 6, FLOPs per parameter per token); MFU needs --peak-tflops on CPU. Results go to
bench/results/train-<task>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16

PLAIN = """
import json, sys, time, torch
from peft import LoraConfig, get_peft_model
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          DataCollatorForSeq2Seq, DataCollatorWithPadding, Trainer, TrainingArguments)
cfg = json.loads(sys.argv[1])
tok = AutoTokenizer.from_pretrained(cfg["base"])
rows = cfg["rows"]
if cfg["task"] == "classification":
    model = AutoModelForSequenceClassification.from_pretrained(cfg["base"], num_labels=2)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"],
                                             task_type="SEQ_CLS"))
    data = [dict(tok(r["text"], truncation=True, max_length=cfg["max_length"]), labels=int(r["label"])) for r in rows]
    collator = DataCollatorWithPadding(tok)
else:
    tok.pad_token = tok.pad_token or tok.eos_token
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(cfg["base"]), LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    data = []
    for r in rows:
        ids = tok.apply_chat_template([{"role": "user", "content": r["prompt"]},
                                       {"role": "assistant", "content": r["response"]}], tokenize=True,
                                      return_dict=True)
        ids = list(ids["input_ids"])[: cfg["max_length"]]
        data.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": ids})
    collator = DataCollatorForSeq2Seq(tok, label_pad_token_id=-100)
args = TrainingArguments(output_dir=cfg["out"], per_device_train_batch_size=cfg["batch"], max_steps=cfg["steps"],
                         learning_rate=5e-4, report_to="none", save_strategy="no", logging_steps=10**6,
                         include_num_input_tokens_seen="non_padding", disable_tqdm=True, seed=42,
                         bf16=torch.cuda.is_available())
trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
start = time.perf_counter(); trainer.train(); seconds = time.perf_counter() - start
hwm = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")]
print(json.dumps({"tokens": trainer.state.num_input_tokens_seen, "seconds": seconds,
                  "params": sum(p.numel() for p in model.parameters()),
                  "lengths": [len(d["input_ids"]) for d in data], "peak_rss_mb": hwm[0] if hwm else None}))
"""

OURS = """
import json, sys, time
from finetune.config import parse_job
from finetune.runner import run_job
from pathlib import Path
cfg = json.loads(sys.argv[1])
result = run_job(parse_job(cfg["job"], Path(cfg["out"])))
m = json.loads((result.run_dir / "manifest.json").read_text())
hwm = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")]
print(json.dumps({"tokens": result.training["num_input_tokens_seen"],
                  "seconds": result.training["train_runtime"], "params": m["parameters"]["total"],
                  "peak_rss_mb": hwm[0] if hwm else None}))
"""


def run_side(code: str, config: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("peak_rss_mb") is None:  # no /proc: the children's peak (an upper bound for the later side)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def padding_ratio(lengths: list[int], batch: int, grouped: bool, seed: int = 42) -> float:
    """Padded positions / all positions over one epoch of the sampler's batches (dynamic padding)."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed)
    order = (
        list(LengthGroupedSampler(batch, lengths=lengths, generator=generator))
        if grouped
        else torch.randperm(len(lengths), generator=generator).tolist()
    )
    real = padded = 0
    for start in range(0, len(order), batch):
        chunk = [lengths[i] for i in order[start : start + batch]]
        real, padded = real + sum(chunk), padded + max(chunk) * len(chunk)
    return 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=["classification", "causal"], default="classification")
    parser.add_argument("--data", type=Path, help="classification: TSV with sentence/label (default SST-2 subset)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--peak-tflops", type=float, help="peak FLOP/s of this device, for MFU")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from finetune.data import read_rows
    from finetune.models import resolve_base_model

    base = "minilm" if args.task == "classification" else "smollm2"
    base_path = str(resolve_base_model(base))
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    if args.task == "classification":
        data = args.data or Path("~/llmapp-examples/data/sst2_train.tsv").expanduser()
        rows = [
            {"text": r.fields["sentence"], "label": r.fields["label"]} for r in read_rows(data) if hasattr(r, "fields")
        ][: args.steps * args.batch]
    else:
        rows = [
            {
                "prompt": f"What does section {i} of the handbook cover? " * (1 + i % 4),
                "response": f"Section {i} covers topic number {i * 7 % 13} in detail. " * (1 + i % 3),
            }
            for i in range(args.steps * args.batch)
        ]
    (work / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    job = {
        "task": args.task,
        "base_model": base,
        "data": {"train": str(work / "train.jsonl"), "validation": str(work / "train.jsonl")},
        "lora": {
            "r": 8,
            "alpha": 16,
            "target_modules": ["query", "value"] if base == "minilm" else ["q_proj", "v_proj"],
        },
        "train": {
            "max_steps": args.steps,
            "batch_size": args.batch,
            "learning_rate": 5e-4,
            "max_length": args.max_length,
            "logging_steps": 10**6,
            "save_steps": 10**6,
            "eval_steps": 10**6,
        },
        "output_dir": str(work / "ours"),
    }
    plain = run_side(
        PLAIN,
        {
            "task": args.task,
            "base": base_path,
            "rows": rows,
            "steps": args.steps,
            "batch": args.batch,
            "max_length": args.max_length,
            "out": str(work / "plain"),
        },
    )
    ours = run_side(OURS, {"job": job, "out": str(work)})
    report: dict = {"task": args.task, "steps": args.steps, "batch": args.batch, "device": device_name()}
    for name, side, grouped in (("plain", plain, False), ("ours", ours, True)):
        tps = side["tokens"] / side["seconds"]
        entry = {
            "tokens_per_s": round(tps, 1),
            "peak_rss_mb": round(side["peak_rss_mb"], 1),
            "padding_ratio": round(padding_ratio(plain["lengths"], args.batch, grouped), 3),
        }
        peak = args.peak_tflops or GPU_PEAK_TFLOPS.get(report["device"].split()[-1], 0.0)
        if peak:
            entry["mfu"] = round(4 * side["params"] * tps / (peak * 1e12), 4)
        report[name] = entry
    report["ratio_tokens_per_s"] = round(report["ours"]["tokens_per_s"] / report["plain"]["tokens_per_s"], 3)
    out = ROOT / "bench" / "results" / f"train-{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return next((f"cuda {k}" for k in GPU_PEAK_TFLOPS if k in name), f"cuda {name}")
    return "cpu"


if __name__ == "__main__":
    main()
