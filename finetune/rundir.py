"""The run folder: where each artefact of a fine-tuning run lives, and the files written around training.

```
<run>/adapter/            PEFT adapter (adapter_config.json + adapter_model.safetensors); `model/` instead
                          for full fine-tuning and for the embedding task's ready-to-use SentenceTransformer
<run>/tokenizer/          the tokenizer (with the chat template for causal runs)
<run>/labels.json         classification: {"labels": [...], "label2id": {...}}
<run>/chat_template.jinja causal: the template used in training, to use at inference
<run>/metrics.json        final metrics on the validation split
<run>/data_report.json    rows kept, bad rows with line numbers, token-length statistics
<run>/train_log.jsonl     one JSON object per logged step / evaluation
<run>/tensorboard/        TensorBoard event files
<run>/curves.png          loss and metric curves
<run>/manifest.json       schema version, task, base model path + hash, data hashes, versions, the job
<run>/checkpoints/        HF Trainer checkpoints (for --resume)
```
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any

from finetune.errors import RunFolderError

SCHEMA_VERSION = 1
ADAPTER = "adapter"
MODEL = "model"
TOKENIZER = "tokenizer"
LABELS = "labels.json"
CHAT_TEMPLATE = "chat_template.jinja"
METRICS = "metrics.json"
DATA_REPORT = "data_report.json"
TRAIN_LOG = "train_log.jsonl"
TENSORBOARD = "tensorboard"
CURVES = "curves.png"
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"


def write_json(path: Path, payload: Any) -> None:
    """Writes JSON aside and renames it into place, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(payload, out, ensure_ascii=False, indent=2, default=str)
        out.write("\n")
    os.replace(temp, path)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: is {path.parent} a finished finetune run folder?")
    return json.loads(path.read_text(encoding="utf-8"))


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "accelerate", "sentence-transformers", "llmapp"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete Trainer checkpoint (a kill -9 during a save leaves one without trainer_state)."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return None
    complete = []
    for item in folder.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", item.name)
        if match and (item / "trainer_state.json").is_file():
            complete.append((int(match.group(1)), item))
    return max(complete)[1] if complete else None


def write_train_log(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """train_log.jsonl from the Trainer's log history (restored from the checkpoint on resume)."""
    lines = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in history)
    handle, temp = tempfile.mkstemp(prefix=f".{TRAIN_LOG}-", dir=run_dir)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(lines)
    os.replace(temp, run_dir / TRAIN_LOG)


def plot_curves(run_dir: Path, history: list[dict[str, Any]], metric: str) -> None:
    """curves.png: training loss, validation loss and the task metric against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(key: str) -> tuple[list[int], list[float]]:
        points = [(e["step"], e[key]) for e in history if key in e and "step" in e]
        return [p[0] for p in points], [float(p[1]) for p in points]

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "train loss"), ("eval_loss", "validation loss")):
        steps, values = series(key)
        if steps:
            left.plot(steps, values, marker=".", label=label)
    left.set_xlabel("step")
    left.set_title("loss")
    left.legend()
    steps, values = series(f"eval_{metric}")
    if steps and metric != "loss":
        right.plot(steps, values, marker="o", color="tab:green")
    right.set_xlabel("step")
    right.set_title(f"validation {metric}")
    figure.tight_layout()
    figure.savefig(run_dir / CURVES, dpi=90)
    plt.close(figure)
