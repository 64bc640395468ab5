"""`llmapp kb tune KB`: tune the knowledge base's embedder on its own chunks; promote it only if it helps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from llmapp.cli.common import print_json, settings_from
from llmapp.cli.kb_cmd import kb_app


def register(app: typer.Typer) -> None:
    kb_app.command("tune")(tune)


def tune(
    kb: Annotated[str, typer.Argument(help="Knowledge base: a name or a path.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Stop after the gate's evaluation; change nothing.")]
    = False,
    rollback: Annotated[bool, typer.Option("--rollback", help="Return to the embedder before the last tuning.")]
    = False,
    full: Annotated[bool, typer.Option("--full", help="Fine-tune every weight instead of a LoRA adapter.")] = False,
    sample: Annotated[int, typer.Option(min=10, help="Chunks that get a pseudo-query.")] = 2000,
    held_out: Annotated[float, typer.Option(min=0.05, max=0.9, help="Share of documents kept for the gate.")] = 0.2,
    margin: Annotated[float, typer.Option(min=0.0, help="nDCG@10 gain the tuned embedder must exceed.")] = 0.005,
    epochs: Annotated[float, typer.Option(min=0.01, help="Training epochs over the pseudo-queries.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=2, help="Training batch (in-batch negatives).")] = 32,
    learning_rate: Annotated[float | None, typer.Option(help="Default 2e-4 (LoRA), 2e-5 (--full).")] = None,
    max_length: Annotated[int, typer.Option(min=16, help="Tokens per text in training (longer passages are cut; "
                                                         "memory and time grow with it).")] = 128,
    queries: Annotated[Path | None, typer.Option(help="Your own questions, JSONL {\"id\", \"text\"} (gate).")]
    = None,
    qrels: Annotated[Path | None, typer.Option(help="Judgements of --queries, BEIR TSV query-id corpus-id score.")]
    = None,
    generator: Annotated[str | None, typer.Option(
        help="Write the questions with this model (.gguf, folder, 'smollm2', or a server's model with "
             "--base-url) instead of cutting them from the chunks.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server for --generator.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the split and the training.")] = 13,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
) -> None:
    """Tune the embedder on pseudo-queries made from the knowledge base, measure hybrid search before and
    after on held-out queries (and --queries/--qrels), and switch to the tuned embedder only if nDCG@10 gains
    more than --margin with a bootstrap interval above zero. The old embedder answers until the switch."""
    from llmapp.tune.loop import TuneOptions
    from llmapp.tune.loop import rollback as roll_back
    from llmapp.tune.loop import tune as run_tune
    from llmapp.tune.training import TrainOptions

    if not quiet:
        for name in ("llmapp.tune", "finetune"):
            logging.getLogger(name).setLevel(logging.INFO)
    settings = settings_from()
    if rollback:
        version = roll_back(settings, kb)
        _emit({"kb": kb, "rolled_back": True, "version": version}, as_json, f"{kb}: back to the previous embedder "
              f"(version {version})")
        return
    if (queries is None) != (qrels is None):
        raise typer.BadParameter("--queries and --qrels go together (questions and their judgements)")
    train = TrainOptions(full=full, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         max_length=max_length)
    options = TuneOptions(sample=sample, held_out=held_out, margin=margin, dry_run=dry_run, seed=seed, train=train,
                          queries=queries, qrels=qrels, ask=_ask(generator, base_url))
    report = run_tune(settings, kb, options)
    _emit(report.to_dict(), as_json, f"{kb}: {report.reason}")


def _ask(model: str | None, base_url: str | None) -> Any:
    if model is None and base_url is None:
        return None
    from llmapp.generate import GeneratorConfig, open_generator
    from llmapp.prompts import PromptLibrary
    from llmapp.tune.queries import generator_ask

    return generator_ask(open_generator(GeneratorConfig(model=model, base_url=base_url)), PromptLibrary())


def _emit(payload: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        print_json(payload)
    else:
        typer.echo(line)
