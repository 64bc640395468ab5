"""`train.distributed: fsdp`: the job setting, the arguments the Trainer gets, the refusals, and whole FSDP runs.

accelerate 1.15 shards only on GPU-class devices: on CPU it leaves the FSDP plugin out and trains plain DDP, so
llmapp refuses FSDP there (`test_ranks_refuse_when_accelerate_does_not_shard` pins that). To still run the
Trainer's real FSDP2 path on this CPU-only machine (accelerate's `fully_shard` wrapping, FULL_STATE_DICT
checkpoints and their loading on resume, llmapp's gather before saving), the ranks of the run tests start with
FSDP_ON_CPU, which lifts that one device gate; PyTorch's FSDP2 itself runs on CPU with gloo. The runs then match
a 1-process run within the DDP test's TOLERANCE, and resume after kill -9 of one rank.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from finetune.config import load_job, parse_job
from finetune.errors import JobConfigError
from finetune.fsdp import check_device, check_processes, fsdp_options, shard_units
from finetune.launch import launch
from finetune.runner import RunResult, export_run, run_job, run_result
from finetune.training import describe_checkpoint
from tests.finetune.tasks.test_generative import qa_rows
from tests.finetune.test_launch import HANGING_RANK, TOLERANCE, _env, _floats, _job, kill_rank1_after_first_save
from tests.support.finetune_data import job_dict, write_jsonl

# Test only: after accelerate built its state without FSDP (CPU), put the FSDP plugin back, in the state and in
# the process state it re-reads, as it does on GPUs.
FSDP_ON_CPU = """
import sys
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType

build_state = AcceleratorState.__init__

def build_state_sharding_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    build_state(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin

AcceleratorState.__init__ = build_state_sharding_on_cpu
"""
FSDP_RANK = FSDP_ON_CPU + """
from pathlib import Path
from finetune.config import load_job
from finetune.runner import run_job
run_job(load_job(Path(sys.argv[1])), resume="--resume" in sys.argv[2:])
"""


def _torchrun(script: str, *args: str) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "--no-python", sys.executable, "-c", script, *args]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def fsdp_run(steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> RunResult:
    job = _job(tmp_path_factory.mktemp("fsdp"), steady_bert, sentiment_files, distributed="fsdp")
    _torchrun(FSDP_RANK, str(job))
    return run_result(load_job(job).output_dir)


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
    import torch
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import TrainingArguments

    job = parse_job(_raw(tmp_path), tmp_path)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), **fsdp_options(job, torch.nn.Linear(2, 2)))
    assert args.fsdp_plugin_args == {
        "fsdp_version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "cpu_ram_efficient_loading": False,
        "state_dict_type": "FULL_STATE_DICT", "activation_checkpointing": False, "reshard_after_forward": True,
    }
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True


def test_gradient_checkpointing_becomes_fsdp_activation_checkpointing(tmp_path: Path) -> None:
    import torch
    from transformers import TrainingArguments

    raw = _raw(tmp_path)
    raw["train"]["gradient_checkpointing"] = True
    args = TrainingArguments(output_dir=str(tmp_path / "out"),
                             **fsdp_options(parse_job(raw, tmp_path), torch.nn.Linear(2, 2)))
    # the Trainer refuses both at once; FSDP's own avoids a second all-gather per layer in backward
    assert args.fsdp_plugin_args["activation_checkpointing"] is True and args.activation_checkpointing is False


def test_shard_units_leave_out_the_one_holding_the_input_embeddings(steady_bert: Path, tiny_llama: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    bert = get_peft_model(AutoModelForSequenceClassification.from_pretrained(steady_bert, num_labels=2),
                          LoraConfig(r=2, target_modules=["query", "value"]))
    assert set(bert._no_split_modules) == {"BertEmbeddings", "BertLayer"}
    assert shard_units(bert) == ["BertLayer"]
    assert shard_units(AutoModelForCausalLM.from_pretrained(tiny_llama)) is None  # LlamaDecoderLayer: kept


def test_one_process_is_refused(steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path) -> None:
    job = load_job(_job(tmp_path, steady_bert, sentiment_files, distributed="fsdp"))
    with pytest.raises(JobConfigError, match=r"has 1; run it with --nproc N \(N >= 2"):
        run_job(job)
    assert not job.output_dir.exists()  # refused before anything was loaded or written
    check_processes(job, 2)


@pytest.mark.skipif("__import__('torch').accelerator.is_available()", reason="a GPU machine may run FSDP")
def test_launch_on_cpu_is_refused_before_torchrun(
    steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    job = _job(tmp_path, steady_bert, sentiment_files, distributed="fsdp")
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
    job = _job(tmp_path, steady_bert, sentiment_files, distributed="fsdp")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "finetune", "run", str(job)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.count("accelerate did not enable FSDP for this run") == 2, done.stderr[-3000:]
    assert not list((tmp_path / "run").glob("checkpoints/checkpoint-*"))  # refused before the first step


@pytest.mark.slow
def test_fsdp_run_matches_one_process(
    fsdp_run: RunResult, steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    one = run_job(load_job(_job(tmp_path / "one", steady_bert, sentiment_files)))
    assert fsdp_run.metrics["training"]["global_step"] == one.metrics["training"]["global_step"] == 6
    mine, theirs = _floats(fsdp_run.metrics), _floats(one.metrics)
    assert mine.keys() == theirs.keys() and len(mine) >= 3
    for name, value in mine.items():
        assert abs(value - theirs[name]) <= TOLERANCE, (name, value, theirs[name])
    checkpoint = fsdp_run.run_dir / "checkpoints" / "checkpoint-6"
    assert (checkpoint / "pytorch_model_fsdp.bin").is_file()  # the Trainer really sharded: an FSDP checkpoint
    assert describe_checkpoint(checkpoint)["restored"]["optimizer"]
    # the result folder is the ordinary one: the adapter merges and the merged model gives the adapter's outputs
    assert export_run(fsdp_run.run_dir, tmp_path / "merged")["equivalent"] is True


@pytest.mark.slow
def test_fsdp_resume_after_kill_of_one_rank(
    fsdp_run: RunResult, steady_bert: Path, sentiment_files: tuple[Path, Path], tmp_path: Path
) -> None:
    job = _job(tmp_path, steady_bert, sentiment_files, distributed="fsdp")
    kill_rank1_after_first_save(job, FSDP_ON_CPU + HANGING_RANK)
    _torchrun(FSDP_RANK, str(job), "--resume")
    training = run_result(load_job(job).output_dir).metrics["training"]
    assert training["resumed"]["global_step"] == 2 and training["global_step"] == 6
    assert training["resumed"]["restored"]["optimizer"]
    resumed = run_result(load_job(job).output_dir).metrics
    straight = _floats(fsdp_run.metrics, train_loss=False)
    for name, value in _floats(resumed, train_loss=False).items():
        assert abs(value - straight[name]) <= TOLERANCE, (name, value, straight[name])


@pytest.mark.slow
def test_fsdp_causal_run_skips_the_evaluation_before_training(tiny_llama: Path, tmp_path: Path) -> None:
    """accelerate's FSDP2 shards the model with the optimizer inside train(): an evaluate() before it fails."""
    train = write_jsonl(tmp_path / "train.jsonl", qa_rows())
    raw = job_dict("causal", tiny_llama, train, None, tmp_path / "run", max_length=64, max_steps=2, save_steps=2)
    raw["train"]["distributed"] = "fsdp"
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    _torchrun(FSDP_RANK, str(tmp_path / "job.yaml"))
    metrics = run_result(tmp_path / "run").metrics
    assert metrics["training"]["global_step"] == 2 and "eval_loss_before" not in metrics
    assert metrics["loss"] > 0
