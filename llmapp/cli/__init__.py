"""The `llmapp` command. Each command group lives in its own module as a thin layer over the library.

Modules here import only typer and light helpers at import time, so `llmapp --help` stays fast and never
imports torch, transformers or faiss; the libraries are imported inside the commands.
"""

from __future__ import annotations

import logging
import sys

import typer

from llmapp.cli import (
    ask_cmd,
    classify_cmd,
    eval_cmd,
    finetune_cmd,
    ingest_cmd,
    kb_cmd,
    search_cmd,
    serve_cmd,
    tune_cmd,
)
from llmcommon.errors import UserError

app = typer.Typer(
    name="llmapp",
    help="Knowledge-base chat, batch classification and LoRA fine-tuning on local models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help: rich's markup ate "[default: ...]" (leaving " .") and its boxes cut long lines at 80 columns.
    rich_markup_mode=None,
)

ingest_cmd.register(app)
classify_cmd.register(app)
kb_cmd.register(app)
tune_cmd.register(app)
search_cmd.register(app)
ask_cmd.register(app)
eval_cmd.register(app)
finetune_cmd.register(app)
serve_cmd.register(app)


def main() -> None:
    """Console-script entry point: runs the app and turns known errors into one line and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
