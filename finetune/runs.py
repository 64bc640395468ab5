"""Reading a finished run folder: its manifest (typed) and its model, base + adapter, merged or not.

The one owner of the run-folder format on the reading side (`rundir` names the files, the tasks write them):
the tasks' `load_*` functions, `recorded_job` and `llmapp.classify` all read runs through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune import rundir
from finetune.errors import ModelLoadError, RunFolderError


@dataclass(frozen=True)
class RunManifest:
    """What `<run>/manifest.json` records about a run."""

    task: str
    status: str
    base_model_name: str
    base_model_path: Path
    job: dict[str, Any]

    @classmethod
    def read(cls, run_dir: Path) -> RunManifest:
        raw = rundir.read_json(run_dir / rundir.MANIFEST)
        try:
            base = raw["base_model"]
            return cls(str(raw["task"]), str(raw.get("status", "")), str(base.get("name", "")), Path(base["path"]),
                       dict(raw["job"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise RunFolderError(f"{run_dir / rundir.MANIFEST} is damaged: no {exc} (is it a finetune run?)") from exc

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def train_setting(self, key: str) -> Any:
        """A value of the job's `train` section (None when the job did not set it)."""
        return (self.job.get("train") or {}).get(key)


def is_run_folder(path: Path) -> bool:
    """Whether `path` looks like a finetune run folder (it has a manifest)."""
    return (path / rundir.MANIFEST).is_file()


def read_labels(run_dir: Path) -> list[str]:
    """A classification run's label names, in the order of the model's outputs."""
    return [str(label) for label in rundir.read_json(run_dir / rundir.LABELS)["labels"]]


def load_tokenizer(run_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(run_dir / rundir.TOKENIZER)


def load_model(run_dir: Path, auto_class: Any, merged: bool = False, **base_options: Any) -> Any:
    """A run's model in eval mode: the full fine-tune in `model/`, or the base model plus the adapter.

    `auto_class` is the transformers Auto class of the task; `base_options` go to the base model's
    `from_pretrained` (a classifier's label count and names). `merged=True` folds the adapter into the weights,
    so inference runs a plain model at full speed (what `export --merge` saves).
    """
    if (run_dir / rundir.MODEL).is_dir():
        return auto_class.from_pretrained(run_dir / rundir.MODEL).eval()
    base = base_model_folder(run_dir)
    from peft import PeftModel

    model = PeftModel.from_pretrained(auto_class.from_pretrained(base, **base_options), run_dir / rundir.ADAPTER)
    return (model.merge_and_unload() if merged else model).eval()


def base_model_folder(run_dir: Path) -> Path:
    """The base model the run's adapter was trained on; an error that says so when it has gone."""
    base = RunManifest.read(run_dir).base_model_path
    if not base.is_dir():
        raise ModelLoadError(f"the run's base model {base} is gone; the adapter in {run_dir} needs it")
    return base
