"""`train.distributed: fsdp`: the job setting, the arguments the Trainer gets, the refusals, and the save path.

accelerate 1.15 shards only on GPU-class devices (on CPU it drops the FSDP plugin and trains plain DDP), so a
whole FSDP Trainer run cannot happen on this CPU-only machine; `test_ranks_refuse_when_accelerate_does_not_shard`
pins that behaviour. PyTorch's FSDP2 itself runs on CPU with gloo: `test_gathered_adapter_is_an_ordinary_one`
shards the job's LoRA model the way accelerate does (each BertLayer and LoRA layer, then the root) on two gloo
processes, trains a step, and checks that the folder `Gathered` saves holds the weights an unsharded model
reaches and that eval and export --merge read it like any run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from finetune.config import load_job, parse_job
from finetune.errors import JobConfigError
from finetune.fsdp import check_device, check_processes, fsdp_options
from finetune.launch import launch
from finetune.runner import evaluate_run, export_run, run_job
from tests.finetune.test_launch import _env
from tests.support.finetune_data import job_dict

# Each rank: the job's prepared model, one SGD step unsharded (rank 0 saves it to OUT/plain), then the same
# step on the FSDP2-sharded model, gathered and saved by rank 0 to OUT/sharded.
SHARDED_RANK = """
import copy, sys
from pathlib import Path
import torch, torch.distributed as dist
from peft.tuners.lora import LoraLayer
from torch.distributed.fsdp import fully_shard
from transformers import set_seed
from finetune.fsdp import Gathered, full_state_dict
from finetune.models import resolve_base_model
from finetune.runner import load_splits, recorded_job
from finetune.tasks import get_task

job, out = recorded_job(Path(sys.argv[1])), Path(sys.argv[2])
task = get_task(job.task)
splits = load_splits(job, task)
set_seed(job.train.seed)
prepared = task.prepare(job, resolve_base_model(job.base_model), splits.train_records, splits.validation_records)
batch = prepared.collator([prepared.train[i] for i in range(8)])

def train_step(model):
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=2.0)
    model(**batch).loss.backward()
    optimizer.step()

dist.init_process_group("gloo")
plain = copy.deepcopy(prepared.model)
train_step(plain)
if dist.get_rank() == 0:
    task.save(prepared, plain, out / "plain")
model = prepared.model
for module in reversed(list(model.modules())):  # children first, as accelerate's fsdp2_prepare_model wraps
    if isinstance(module, LoraLayer) or type(module).__name__ == "BertLayer":
        fully_shard(module)
fully_shard(model)
assert type(next(p for p in model.parameters() if p.requires_grad)).__name__ == "DTensor"
train_step(model)
gathered = Gathered(model, full_state_dict(model))
if dist.get_rank() == 0:
    task.save(prepared, gathered, out / "sharded")
dist.destroy_process_group()
"""


def _fsdp_job(folder: Path, base: Path, files: tuple[Path, Path], **train: Any) -> Path:
    raw = job_dict("classification", base, *files, folder / "run", max_steps=2, save_steps=2, **train)
    raw["train"]["distributed"] = "fsdp"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return folder / "job.yaml"


def _raw(tmp_path: Path, task: str = "classification", distributed: str = "fsdp") -> dict[str, Any]:
    raw = job_dict(task, tmp_path, tmp_path / "t.jsonl", None, tmp_path / "run")
    raw["train"]["distributed"] = distributed
    return raw


def test_job_takes_ddp_or_fsdp(tmp_path: Path) -> None:
    assert parse_job(_raw(tmp_path), tmp_path).train.distributed == "fsdp"
    assert parse_job(job_dict("causal", tmp_path, tmp_path / "t", None, tmp_path), tmp_path).train.distributed == "ddp"
    with pytest.raises(JobConfigError, match=r"train.distributed: Input should be 'ddp' or 'fsdp'"):
        parse_job(_raw(tmp_path, distributed="zero3"), tmp_path)


def test_embedding_task_refuses_fsdp(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="not available for the embedding task.*use ddp"):
        parse_job(_raw(tmp_path, task="embedding"), tmp_path)


def test_trainer_arguments_turn_on_fsdp2(tmp_path: Path) -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import TrainingArguments

    job = parse_job(_raw(tmp_path), tmp_path)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), **fsdp_options(job))
    assert args.fsdp_plugin_args == {
        "fsdp_version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "cpu_ram_efficient_loading": False,
        "state_dict_type": "FULL_STATE_DICT", "activation_checkpointing": False, "reshard_after_forward": True,
    }
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True


def test_gradient_checkpointing_becomes_fsdp_activation_checkpointing(tmp_path: Path) -> None:
    from transformers import TrainingArguments

    raw = _raw(tmp_path)
    raw["train"]["gradient_checkpointing"] = True
    args = TrainingArguments(output_dir=str(tmp_path / "out"), **fsdp_options(parse_job(raw, tmp_path)))
    # the Trainer refuses both at once; FSDP's own avoids a second all-gather per layer in backward
    assert args.fsdp_plugin_args["activation_checkpointing"] is True and args.activation_checkpointing is False


def test_one_process_is_refused(steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path) -> None:
    job = load_job(_fsdp_job(tmp_path, steady_bert, sentiment_files))
    with pytest.raises(JobConfigError, match=r"has 1; run it with --nproc N \(N >= 2"):
        run_job(job)
    assert not job.output_dir.exists()  # refused before anything was loaded or written
    check_processes(job, 2)


@pytest.mark.skipif("__import__('torch').accelerator.is_available()", reason="a GPU machine may run FSDP")
def test_launch_on_cpu_is_refused_before_torchrun(
    steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    job = _fsdp_job(tmp_path, steady_bert, sentiment_files)
    with pytest.raises(JobConfigError, match="fsdp needs GPUs .*set train.distributed: ddp"):
        launch(job, 2)
    with pytest.raises(JobConfigError, match="--nproc N"):
        launch(job, 1)
    check_device(parse_job(_raw(tmp_path, distributed="ddp"), tmp_path))  # ddp runs on CPU processes


@pytest.mark.slow
@pytest.mark.skipif("__import__('torch').accelerator.is_available()", reason="a GPU machine may run FSDP")
def test_ranks_refuse_when_accelerate_does_not_shard(
    steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """torchrun started by hand skips the launcher's check; on CPU accelerate would train DDP: each rank refuses."""
    job = _fsdp_job(tmp_path, steady_bert, sentiment_files)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "finetune", "run", str(job)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.count("accelerate did not enable FSDP for this run") == 2, done.stderr[-3000:]
    assert not list((tmp_path / "run").glob("checkpoints/checkpoint-*"))  # refused before the first step


def _tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(folder / "adapter" / "adapter_model.safetensors")


@pytest.mark.slow
def test_gathered_adapter_is_an_ordinary_one(
    steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    raw = job_dict("classification", steady_bert, *sentiment_files, tmp_path / "run", max_steps=1)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    run = run_job(load_job(tmp_path / "job.yaml")).run_dir  # a finished run folder to put the result into
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "--no-python", sys.executable, "-c", SHARDED_RANK, str(run), str(tmp_path / "saved")]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    plain, sharded = _tensors(tmp_path / "saved" / "plain"), _tensors(tmp_path / "saved" / "sharded")
    assert plain.keys() == sharded.keys() and any("classifier" in k for k in plain)  # the head is saved too
    for name, weight in plain.items():
        assert (weight - sharded[name]).abs().max().item() <= 1e-6, name
    shutil.rmtree(run / "adapter")
    shutil.copytree(tmp_path / "saved" / "sharded" / "adapter", run / "adapter")
    assert export_run(run, tmp_path / "merged")["equivalent"] is True
    assert evaluate_run(run, sentiment_files[1])["count"] == 24
