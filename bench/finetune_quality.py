"""SST-2 quality: our LoRA job against the plain HF Trainer + PEFT recipe, same user-facing settings, one run.

Plain recipe (what a user writes from the PEFT docs): AutoModelForSequenceClassification(minilm, 2 labels) +
LoraConfig(r=8, alpha=16, target_modules=["query", "value"], task_type="SEQ_CLS"), Trainer defaults otherwise,
2 epochs, batch 16, lr 5e-4, max_length 64, on the first 2,000 rows of SST-2 train. Ours:
examples/finetune/sst2-lora.yaml (the same r, epochs, batch, lr, max_length; our defaults for target modules,
head and schedule). Both are scored on the same held-out 1,000 rows (the end of SST-2 train).

    .venv/bin/python examples/finetune/prepare_eval_data.py --shared ../shared/eval
    .venv/bin/python bench/finetune_quality.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("~/llmapp-examples/data").expanduser()  # where examples/finetune/prepare_eval_data.py writes
JOB = ROOT / "examples" / "finetune" / "sst2-lora.yaml"

PLAIN = """
import csv, json, sys, time, torch, numpy as np
from peft import LoraConfig, get_peft_model
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)
base, train_file, val_file, out = sys.argv[1:5]
def rows(path):
    with open(path, encoding="utf-8") as handle:
        return [(r["sentence"], int(r["label"])) for r in csv.DictReader(handle, delimiter="\\t")]
tok = AutoTokenizer.from_pretrained(base)
model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], task_type="SEQ_CLS"))
encode = lambda pairs: [dict(tok(t, truncation=True, max_length=64), labels=y) for t, y in pairs]
train, val = encode(rows(train_file)), encode(rows(val_file))
args = TrainingArguments(output_dir=out, per_device_train_batch_size=16, num_train_epochs=2, learning_rate=5e-4,
                         report_to="none", save_strategy="no", disable_tqdm=True, seed=42)
trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tok))
start = time.perf_counter(); trainer.train(); seconds = time.perf_counter() - start
pred = trainer.predict(val)
accuracy = float((pred.predictions.argmax(-1) == pred.label_ids).mean())
print(json.dumps({"accuracy": accuracy, "train_seconds": seconds}))
"""


def run(command: list[str]) -> dict:
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    out = done.stdout.strip()
    return json.loads(out if out.startswith("{") and out.endswith("}") and "\n{" not in out else out.splitlines()[-1])


def job_in_fresh_folder() -> Path:
    """The example job with absolute data paths and a new output_dir, so every run trains from scratch."""
    import yaml

    job = yaml.safe_load(JOB.read_text(encoding="utf-8"))
    for split in ("train", "validation"):
        job["data"][split] = str((JOB.parent / Path(job["data"][split]).expanduser()).resolve())
    folder = Path(tempfile.mkdtemp(prefix="llmapp-bench-sst2-"))
    job["output_dir"] = str(folder / "run")
    (folder / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    return folder / "job.yaml"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from finetune.models import resolve_base_model

    if not (DATA / "sst2_train.tsv").is_file():
        raise SystemExit("run examples/finetune/prepare_eval_data.py --shared ../shared/eval first "
                         "(it writes ~/llmapp-examples/data)")
    base = str(resolve_base_model("minilm"))
    plain = run([sys.executable, "-c", PLAIN, base, str(DATA / "sst2_train.tsv"), str(DATA / "sst2_val.tsv"),
                 tempfile.mkdtemp(prefix="llmapp-bench-plain-sst2-")])
    started = time.perf_counter()
    ours = run([sys.executable, "-m", "finetune", "run", str(job_in_fresh_folder()), "--json"])
    wall = time.perf_counter() - started
    ours_accuracy = ours["metrics"]["accuracy"]
    log = Path(ours["run_dir"]) / "train_log.jsonl"
    runtimes = [json.loads(line).get("train_runtime") for line in log.read_text(encoding="utf-8").splitlines()]
    ours_seconds = next((r for r in reversed(runtimes) if r is not None), wall)
    print(f"{'':26}{'plain recipe':>14}{'llmapp job':>14}")
    print(f"{'validation accuracy':26}{plain['accuracy']:>14.4f}{ours_accuracy:>14.4f}")
    print(f"{'training seconds':26}{plain['train_seconds']:>14.1f}{ours_seconds:>14.1f}")
    print(json.dumps({"plain": plain, "ours": {"accuracy": ours_accuracy, "train_seconds": ours_seconds,
                                               "wall_seconds": wall}}))


if __name__ == "__main__":
    main()
