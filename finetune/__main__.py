"""`python -m finetune JOB.yaml [--resume] [--json]`, plus `eval RUN --data FILE` and `export RUN --merge --out DIR`.

The same entry works under `torchrun --nproc_per_node N -m finetune JOB.yaml` (DDP): every rank trains, rank 0
writes the run folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from finetune.errors import FinetuneError


def _print(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m finetune", description="LoRA / full fine-tuning jobs.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train a job")
    run.add_argument("job", type=Path)
    run.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate = commands.add_parser("eval", help="a run's metrics on another data file")
    evaluate.add_argument("run", type=Path)
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--json", action="store_true")
    export = commands.add_parser("export", help="merge the adapter into a standalone model")
    export.add_argument("run", type=Path)
    export.add_argument("--merge", action="store_true", required=True)
    export.add_argument("--out", type=Path, required=True)
    return parser


def end_process_group() -> None:
    """Under torchrun, tear down this rank's process group before the interpreter exits: a gloo group left to
    interpreter finalization can abort the process ("terminate called without an active exception", exit -6)
    after a run that succeeded. Only after success: a failing rank must not wait on its peers."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in ("run", "eval", "export", "-h", "--help"):
        args.insert(0, "run")  # `python -m finetune JOB.yaml` means `run JOB.yaml`
    options = _parser().parse_args(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("finetune").setLevel(logging.INFO)
    from finetune.config import load_job
    from finetune.runner import evaluate_run, export_run, run_job

    try:
        if options.command == "run":
            result = run_job(load_job(options.job), resume=options.resume)
            end_process_group()
            _print(
                {"run_dir": result.run_dir, "metrics": result.metrics} if options.json else {"run_dir": result.run_dir}
            )
        elif options.command == "eval":
            _print(evaluate_run(options.run, options.data))
        else:
            _print(export_run(options.run, options.out))
    except FinetuneError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
