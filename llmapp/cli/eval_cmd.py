"""`llmapp eval`: measure retrieval (`eval retrieval`) and answers (`eval qa`) against judged data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmapp.cli.common import print_json, settings_from

eval_app = typer.Typer(help="Measure retrieval and answer quality on judged data.", no_args_is_help=True,
                       rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def retrieval(
    beir: Annotated[Path | None, typer.Option(help="BEIR folder (corpus, queries, qrels/SPLIT.tsv).")] = None,
    split: Annotated[str, typer.Option(help="Which qrels/SPLIT.tsv of the BEIR folder.")] = "test",
    squad: Annotated[Path | None, typer.Option(help="SQuAD-format file (CMRC 2018, DRCD).")] = None,
    kb: Annotated[str | None, typer.Option("--kb", help="Existing knowledge base, or milvus://HOST:PORT/NAME (+ "
                                                    "--queries, --qrels).")] = None,
    queries: Annotated[Path | None, typer.Option(help="Queries JSONL for --kb.")] = None,
    qrels: Annotated[Path | None, typer.Option(help="Qrels TSV (query-id, corpus-id, score) for --kb.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid (default), dense or lexical.")] = "hybrid",
    compare: Annotated[bool, typer.Option("--compare", help="Hybrid, dense and lexical side by side.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Cache of corpus knowledge bases (HOME/cache/eval).")] = None,
    kb_uri: Annotated[str | None, typer.Option("--kb-uri", help="With --beir/--squad: ingest the corpus into this "
                                               "knowledge base (e.g. milvus://HOST:PORT/NAME; incremental) instead "
                                               "of the cache, and evaluate it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {\"mode\": {\"ndcg@10\": ...}}.")] = False,
) -> None:
    """nDCG@10, recall@10/100, MRR@10 and hit@1/5 of retrieval (metrics per document)."""
    import tempfile

    from llmapp.errors import ConfigError
    from llmapp.eval_retrieval import METRICS, beir_files, evaluate_modes, ingest_cached, read_benchmark, squad_to_beir
    from llmapp.retrieve import MODES

    settings = settings_from()
    if sum(x is not None for x in (beir, squad, kb)) != 1:
        raise ConfigError("give exactly one of --beir DIR, --squad FILE or --kb KB (with --queries and --qrels)")
    cache_dir = cache or settings.home / "cache" / "eval"
    with tempfile.TemporaryDirectory() as scratch:
        if kb is not None:
            if queries is None or qrels is None:
                raise ConfigError("--kb needs --queries Q.jsonl and --qrels QRELS.tsv")
            kb_path, benchmark = settings.kb_location(kb, must_exist=True), read_benchmark(queries, qrels)
        else:
            folder = beir if beir is not None else squad_to_beir(squad, Path(scratch))  # type: ignore[arg-type]
            corpus, query_file, qrel_file = beir_files(folder, split if beir is not None else "test")
            if squad is not None:  # the converted corpus lives in scratch: cache it by content under a stable name
                corpus = _stable_copy(corpus, cache_dir / "squad" / squad.stem / "corpus.jsonl")
            target = settings.kb_location(kb_uri) if kb_uri else None
            kb_path = ingest_cached(corpus, cache_dir, settings.embedder, settings.chunk_tokens,
                                    settings.chunk_overlap, settings.device, progress=True, target=target,
                                    precision=settings.embed_precision)
            benchmark = read_benchmark(query_file, qrel_file)
        results = evaluate_modes(settings, kb_path, benchmark, MODES if compare else (mode,))
    if as_json:
        print_json(results)
        return
    typer.echo(f"{len(benchmark.queries)} queries, knowledge base {kb_path}")
    typer.echo(f"{'mode':<8}" + "".join(f"{name:>11}" for name in METRICS))
    for name, metrics in results.items():
        typer.echo(f"{name:<8}" + "".join(f"{metrics[m]:>11.4f}" for m in METRICS))


def _stable_copy(source: Path, target: Path) -> Path:
    payload = source.read_bytes()
    if not target.is_file() or target.read_bytes() != payload:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    return target


@eval_app.command("qa")
def qa(
    squad: Annotated[Path, typer.Argument(help="SQuAD-format file (SQuAD, CMRC 2018, DRCD).")],
    kb: Annotated[str | None, typer.Option("--kb", help="Answer from this KB (default: the file's contexts).")] = None,
    backend: Annotated[str | None, typer.Option(help="llamacpp, transformers, openai or extractive.")] = None,
    model: Annotated[str | None, typer.Option(help="Model folder, .gguf file or 'smollm2' (default).")] = None,
    adapter: Annotated[Path | None, typer.Option(help="PEFT adapter folder (transformers backend).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    k: Annotated[int, typer.Option("-k", help="Passages to retrieve.")] = 3,
    min_score: Annotated[float | None, typer.Option(help="Drop passages scoring below this.")] = None,
    min_relative_score: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Drop passages below this share of the best one's score (default 0.5; 0: all k)."
    )] = None,
    mode: Annotated[str, typer.Option(help="Retrieval: hybrid, dense or lexical.")] = "hybrid",
    max_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 64,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Cache of corpus knowledge bases (HOME/cache/eval).")] = None,
    kb_uri: Annotated[str | None, typer.Option("--kb-uri", help="With --beir/--squad: ingest the corpus into this "
                                               "knowledge base (e.g. milvus://HOST:PORT/NAME; incremental) instead "
                                               "of the cache, and evaluate it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {\"n\", \"exact_match\", \"f1\", ...}.")] = False,
) -> None:
    """Exact match, F1 (characters for Chinese), citation hit rate and no-answer rate of generated answers."""
    import tempfile
    from dataclasses import replace

    from tqdm import tqdm

    from llmapp.chains import QAChain
    from llmapp.chains.qa import QA_OPTIONS
    from llmapp.eval_qa import read_squad, score, summarise
    from llmapp.eval_retrieval import beir_files, ingest_cached, squad_to_beir
    from llmapp.generate import GeneratorConfig, open_generator
    from llmapp.retrieve import open_retriever

    settings = settings_from()
    items = read_squad(squad, limit)
    if kb is None:
        with tempfile.TemporaryDirectory() as scratch:
            corpus, _, _ = beir_files(squad_to_beir(squad, Path(scratch)), "test")
            corpus = _stable_copy(corpus, (cache or settings.home / "cache" / "eval") / "squad" / squad.stem
                                  / "corpus.jsonl")
        kb = str(ingest_cached(corpus, corpus.parent, settings.embedder, settings.chunk_tokens,
                               settings.chunk_overlap, settings.device, progress=True,
                               precision=settings.embed_precision))
    generator = open_generator(GeneratorConfig(backend=backend, model=model, adapter=adapter, base_url=base_url,
                                               device=settings.device, threads=settings.threads))
    retriever = open_retriever(settings, kb, min_score=min_score, mode=mode)
    chain = QAChain(retriever, generator, k=k, options=replace(QA_OPTIONS, max_tokens=max_tokens))
    if min_relative_score is not None:
        chain.min_relative_score = min_relative_score
    try:
        questions = tqdm(items, desc="answering", unit="question", file=sys.stderr, dynamic_ncols=True)
        scored = [score(item, chain.invoke(item.question)) for item in questions]
    finally:
        retriever.close()
    summary = {**summarise(scored), "backend": generator.name, "model": generator.model}
    if as_json:
        print_json(summary)
        return
    typer.echo(f"{summary['n']} questions, {generator.name} ({generator.model}), knowledge base {kb}")
    for name in ("exact_match", "f1", "citation_hit_rate", "no_answer_rate"):
        typer.echo(f"  {name:<18} {summary[name]:.4f}")
