"""`llmapp classify`: label every row of a .csv/.tsv/.jsonl/.parquet file, resumable, with a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from llmapp.cli.common import print_json

INT8_SAMPLE = 256


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)


def classify(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A .csv, .tsv, .jsonl or .parquet file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write (format from the suffix).")],
    model: Annotated[str | None, typer.Option(help="A finetune run folder or a HF sequence-classification folder.")]
    = None,
    labels: Annotated[str | None, typer.Option(
        help='Zero-shot labels: "billing,shipping" or "billing=questions about invoices,shipping=...".')] = None,
    zero_shot: Annotated[str, typer.Option(
        "--zero-shot", help="With --labels: 'embedding' (fast, cosine similarity) or 'llm' (prompted generator).")]
    = "embedding",
    embedder: Annotated[str | None, typer.Option(help="Embedder for --zero-shot embedding: e5-small "
                                                 "(default), minilm or a sentence-transformers folder.")]
    = None,
    llm_model: Annotated[str | None, typer.Option(help="Generator model for --zero-shot llm; default SmolLM2.")]
    = None,
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Column that every row must have (kept in the output).")]
    = None,
    top_k: Annotated[int, typer.Option(min=1, help="Also write the N best labels: label_1, score_1, ...")] = 1,
    threshold: Annotated[float | None, typer.Option(
        help="Multi-label: write every label scoring >= this in a 'labels' column ('|'-separated).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 64,
    window: Annotated[int, typer.Option(min=1, help="Rows sorted, committed and resumed together.")] = 2048,
    int8: Annotated[bool, typer.Option("--int8", help="Dynamic int8 quantisation (CPU), calibrated on the first "
                                                      "256 rows; reports agreement with float32 on the next 256.")
                    ] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 autocast: fastest on CPUs with AMX and on GPUs "
                                                      "(warns where it measures slower than float32); reports "
                                                      "agreement.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads; default: the usable CPUs.")]
    = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1; default cpu.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a crashed or interrupted run.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the output or a partial run.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    engine: Annotated[str, typer.Option(help="'local' (this process) or 'ray' (Ray Data actors, one per CPU; "
                                             "needs the 'scale' extra: see docs/scale.md).")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: the cluster (ray://HOST:10001 or 'auto'); "
                                                     "default: a Ray instance on this machine.")] = None,
    actors: Annotated[int | None, typer.Option(min=1, help="With --engine ray: scoring actors; default one per "
                                                           "CPU of the cluster.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Classify every row of INPUT with a fine-tuned model (--model) or zero-shot (--labels).

    Exit code 1 when no row could be labelled (each row's error column says why), 2 for a bad option or path.
    """
    from llmapp.classify.job import check_paths, classify_file
    from llmapp.classify.rows import OutputSpec

    spec = OutputSpec(text_column=text_column, id_column=id_column, top_k=top_k, threshold=threshold)
    check_paths(input_path, output, spec, resume=resume, overwrite=overwrite)  # before a model loads (seconds)
    scorer, facts, extra = _scorer(model, labels, zero_shot, embedder, llm_model, (int8, bf16), threads, device,
                                   input_path, spec)
    run = _engine(engine, scorer, spec, batch_size, window, (address, actors, threads), zero_shot, labels)
    bar = _progress_bar() if progress else None
    try:
        summary = classify_file(scorer, input_path, output, spec, facts, batch_size=batch_size, window=window,
                                resume=resume, overwrite=overwrite, progress=bar, engine=run)
    except KeyboardInterrupt:
        typer.secho(f"\ninterrupted: rerun the same command with --resume to continue {output}", err=True,
                    fg=typer.colors.YELLOW)
        raise typer.Exit(130) from None
    finally:
        if bar is not None:
            bar.close()
    summary.extra.update(extra, engine=engine)
    _report(summary, as_json)
    if summary.rows and not summary.ok:
        typer.secho(f"no row was labelled: the error column of {output} says why for each row", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(1)


def _engine(name: str, scorer: Any, spec: Any, batch_size: int, window: int,
            cluster: tuple[str | None, int | None, int | None], zero_shot: str, labels: str | None) -> Any:
    """None for the local loop; a Ray engine holding the scorer for --engine ray."""
    from llmapp.errors import ConfigError

    if name == "local":
        return None
    if name != "ray":
        raise ConfigError(f"--engine must be 'local' or 'ray', got {name!r}")
    if labels is not None and zero_shot == "llm":
        raise ConfigError("--zero-shot llm runs on --engine local only; --engine ray takes --model or "
                          "--zero-shot embedding")
    from llmapp.classify.ray_engine import ray_engine

    address, actors, threads = cluster
    return ray_engine(scorer, spec, batch_size, window, actors=actors, address=address, cpus_per_actor=threads or 1)


def _scorer(
    model: str | None, labels: str | None, zero_shot: str, embedder: str | None, llm_model: str | None,
    reduced: tuple[bool, bool], threads: int | None, device: str | None, input_path: Path, spec: Any,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The scorer, the facts a resumed run must share, and extra facts for the summary."""
    from llmapp.errors import ConfigError

    if (model is None) == (labels is None):
        raise ConfigError("give exactly one of --model (a trained classifier) or --labels (zero-shot)")
    if model is not None:
        return _trained(model, reduced, threads, device, input_path, spec)
    from llmapp.classify.zero_shot import EmbeddingZeroShot, LlmZeroShot, parse_labels

    assert labels is not None
    wanted = parse_labels(labels)
    facts: dict[str, Any] = {"zero_shot": zero_shot, "labels": [(w.name, w.description) for w in wanted]}
    if zero_shot == "embedding":
        facts["embedder"] = embedder
        return EmbeddingZeroShot.load(wanted, embedder), facts, {}
    if zero_shot == "llm":
        from llmapp.generate import GeneratorConfig, open_generator

        facts["llm_model"] = llm_model
        return LlmZeroShot(open_generator(GeneratorConfig(model=llm_model, device=device)), wanted), facts, {}
    raise ConfigError(f"--zero-shot must be 'embedding' or 'llm', got {zero_shot!r}")


def _trained(
    model: str, reduced: tuple[bool, bool], threads: int | None, device: str | None, input_path: Path, spec: Any
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from llmapp.classify.identity import weights_sha256
    from llmapp.classify.job import sample_texts
    from llmapp.classify.model import Classifier, agreement
    from llmapp.errors import ConfigError

    int8, bf16 = reduced
    if int8 and bf16:
        raise ConfigError("--int8 and --bf16 are two different speed-ups: give one of them")
    classifier = Classifier.from_pretrained(model, device=device, threads=threads)
    folder = Path(model).expanduser().resolve()
    facts: dict[str, Any] = {"model": str(folder), "weights_sha256": weights_sha256(folder), "int8": int8,
                             "labels": classifier.labels}
    if bf16:
        facts["bf16"] = True
    if not (int8 or bf16):
        return classifier, facts, {}
    name = "int8" if int8 else "bf16"
    if int8:  # calibrate on the first rows, check agreement on the next ones (the same rows in a short file)
        sample = sample_texts(input_path, spec, 2 * INT8_SAMPLE)
        half = len(sample) // 2
        calibration, sample = (sample[:half], sample[half:]) if half >= 32 else (sample, sample)
        fast = classifier.quantized(calibration=calibration)
    else:
        sample = sample_texts(input_path, spec, INT8_SAMPLE)
        fast = classifier.bfloat16()
    agreed = agreement(classifier, fast, sample)
    return fast, facts, {f"{name}_agreement": round(agreed, 4), f"{name}_sample": len(sample)}


class _Bar:
    """tqdm on stderr, fed with (rows done, rows expected) after each committed window."""

    def __init__(self) -> None:
        self.tqdm: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.tqdm is None:
            from tqdm import tqdm

            self.tqdm = tqdm(total=total, initial=done, unit="rows", file=sys.stderr, dynamic_ncols=True,
                             smoothing=0.1)
        self.tqdm.update(done - self.tqdm.n)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()


def _progress_bar() -> _Bar:
    return _Bar()


def _report(summary: Any, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        print_json(asdict(summary))
        return
    typer.echo(f"{summary.rows} rows -> {summary.output}: {summary.ok} ok, {summary.errors} errors "
               f"({summary.rows_per_s:.1f} rows/s)", err=True)
    for kind, count in sorted(summary.error_kinds.items(), key=lambda item: -item[1]):
        typer.echo(f"  {count} x {kind}", err=True)
    for name in ("int8", "bf16"):
        if f"{name}_agreement" in summary.extra:
            typer.echo(f"{name} agrees with fp32 on {summary.extra[f'{name}_agreement']:.1%} of "
                       f"{summary.extra[f'{name}_sample']} sampled rows", err=True)
