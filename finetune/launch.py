"""`llmapp finetune JOB.yaml --nproc N`: the same job on N processes (DDP, or FSDP with `train.distributed:
fsdp`, see finetune/fsdp.py) through torchrun.

Each process runs `python -m finetune run JOB.yaml`; accelerate (inside the Trainer) sets up the process group
(gloo on CPU, NCCL on GPUs) and rank 0 alone writes the run folder. `train.batch_size` stays the job's global
batch: each of the N processes takes batch_size / N rows per step (`per_device_batch`), so a run on N processes
sees the same batches per step as a run on one, and its metrics match within the tolerance `docs/scale.md`
states. Checkpoints are the Trainer's, so `--resume` works after any rank dies (torchrun stops the others).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from finetune.errors import JobConfigError, RunFolderError

logger = logging.getLogger(__name__)


def world_size() -> int:
    """Processes in this training run (WORLD_SIZE under torchrun / accelerate launch, else 1)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(batch_size: int, processes: int) -> int:
    """Rows per process and step that keep `batch_size` as the global batch."""
    if batch_size % processes:
        raise JobConfigError(
            f"train.batch_size {batch_size} does not split evenly over {processes} processes; "
            f"make it a multiple of {processes} (it is the global batch, shared by the processes)"
        )
    return batch_size // processes


def torchrun_command(job: Path, nproc: int, resume: bool) -> list[str]:
    """torchrun on this machine (--standalone: a free rendezvous port), N processes of `finetune run`."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               "-m", "finetune", "run", str(job)]
    return command + (["--resume"] if resume else [])


def _check_job(job: Path, nproc: int) -> None:
    """What the ranks would refuse, refused before N processes load the model."""
    from finetune.config import load_job
    from finetune.fsdp import check_device, check_processes

    loaded = load_job(job)
    check_processes(loaded, nproc)
    check_device(loaded)


def launch(job: Path, nproc: int, resume: bool = False) -> None:
    """Trains `job` on `nproc` processes; raises with the way forward when a process fails."""
    if nproc < 1:
        raise JobConfigError(f"--nproc must be at least 1, got {nproc}")
    _check_job(job, nproc)
    env = dict(os.environ)
    # torch would start one thread per core in every process: N processes would oversubscribe the CPUs
    env.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // nproc)))
    logger.info("training on %d processes: %s", nproc, " ".join(torchrun_command(job, nproc, resume)))
    # stdout stays free for the caller's --json; the ranks log progress on stderr
    done = subprocess.run(torchrun_command(job, nproc, resume), env=env, stdout=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise RunFolderError(
            f"the {nproc}-process run of {job} failed (exit status {done.returncode}; the ranks' errors are above); "
            "once the cause is fixed, rerun the same command with --resume to continue from its last checkpoint"
        )
