"""The whole `kb tune` loop: queries -> negatives -> training -> staged re-embed -> gate -> switch.

Every phase is timed. A re-run after a kill -9 repeats the cheap phases (queries and negatives are seeded, so
they come out the same), resumes training from its last checkpoint (or reuses the finished run) and the staged
re-embed from its last committed batch. Until the switch the knowledge base answers from its old embedder.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmapp.tune.gate import Decision, Judged, by_doc_id, by_source, compare, decide, per_query
from llmapp.tune.negatives import Triple, mine
from llmapp.tune.queries import Ask, PseudoQuery, generated_queries, pseudo_queries, sample_passages
from llmapp.tune.training import TrainOptions, base_model, run_folder, train_embedder
from llmcommon.heap import collect_and_release

log = logging.getLogger(__name__)
progress_log = logging.getLogger("llmapp.tune.progress")


@dataclass(frozen=True)
class TuneOptions:
    sample: int = 2000  # chunks that get a pseudo-query
    held_out: float = 0.2  # share of documents whose queries judge the gate instead of training
    margin: float = 0.005  # nDCG@10 gain the tuned embedder must exceed
    dry_run: bool = False  # stop after the gate's evaluation
    seed: int = 13
    train: TrainOptions = field(default_factory=TrainOptions)
    queries: Path | None = None  # the user's own questions (JSONL) ...
    qrels: Path | None = None  # ... and their judgements (BEIR TSV)
    ask: Ask | None = None  # a generator writing the questions instead of cutting them from chunks


@dataclass
class TuneReport:
    kb: str
    promoted: bool = False
    reason: str = ""
    version: int | None = None
    run_dir: str | None = None
    queries: dict[str, int] = field(default_factory=dict)
    negatives: dict[str, int] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    on_phase: Callable[[str], None] | None = field(default=None, repr=False)  # told as each phase starts

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "on_phase"}


PHASES = ("queries", "negatives", "training", "re-embed", "gate", "switch")


@contextmanager
def phase(report: TuneReport, name: str) -> Iterator[None]:
    progress_log.info("%s ...", name)
    if report.on_phase is not None:
        report.on_phase(name)
    started = time.perf_counter()
    yield
    report.seconds[name] = round(time.perf_counter() - started, 2)
    progress_log.info("%s done in %.1f s", name, report.seconds[name])


def held_out_document(document: tuple[str, str], share: float, seed: int) -> bool:
    """A seeded coin per document, keyed on the source's file name (not its folder), so the split, and with it
    the run folder a re-run resumes, stays the same when the documents or the knowledge base move."""
    source, doc_id = document
    name = re.split(r"[\\/]", source.rstrip("/\\"))[-1]
    doc_id = doc_id.replace(source, name)  # a plain file's doc id is its path too
    digest = hashlib.sha256(f"{seed}|{name}|{doc_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def split(queries: Sequence[PseudoQuery], share: float, seed: int) -> tuple[list[PseudoQuery], list[PseudoQuery]]:
    """(training, held-out) by document, so no document of the gate's queries was trained on."""
    held = [q for q in queries if held_out_document(q.document, share, seed)]
    return [q for q in queries if not held_out_document(q.document, share, seed)], held


def judged_sets(held: Sequence[PseudoQuery], options: TuneOptions) -> list[Judged]:
    """The user's questions first (the primary set) when given, then the held-out pseudo-queries."""
    sets = [Judged("held-out pseudo-queries", [q.text for q in held],
                   [{f"{q.document[0]}#{q.document[1]}": 1} for q in held], by_source)]
    if options.queries is not None and options.qrels is not None:
        from llmapp.eval_retrieval import read_benchmark

        bench = read_benchmark(options.queries, options.qrels)
        ids = list(bench.queries)
        sets.insert(0, Judged("your questions", [bench.queries[i] for i in ids], [bench.qrels[i] for i in ids],
                              by_doc_id))
    return sets


def make_queries(settings: Any, kb: str, options: TuneOptions) -> list[PseudoQuery]:
    from ingest.store import KnowledgeBase

    base = KnowledgeBase.open(settings.kb_path(kb, must_exist=True))
    with base.snapshot() as snap:
        passages = sample_passages(snap, options.sample, options.seed)
    if options.ask is not None:
        return generated_queries(passages, options.ask)
    return pseudo_queries(passages, options.seed)


def tune(settings: Any, kb: str, options: TuneOptions, on_phase: Callable[[str], None] | None = None) -> TuneReport:
    """Run the loop on knowledge base `kb` (a name under settings.home, or a path); `on_phase(name)` is called
    as each phase of PHASES starts.

    At most one encoder is in memory at a time: the knowledge base's own one mines the negatives and, on the same
    retriever, scores the gate's "before" side (live search, which nothing in the loop changes); it is released
    before training, and training's copy before the tuned one re-embeds."""
    report = TuneReport(kb=kb, on_phase=on_phase)
    with phase(report, "queries"):
        training, held = split(make_queries(settings, kb, options), options.held_out, options.seed)
        report.queries = {"training": len(training), "held_out": len(held)}
    sets = judged_sets(held, options)
    with phase(report, "negatives"):
        triples, before, embedder_spec = mine_and_score(settings, kb, training, sets, report)
    collect_and_release()
    with phase(report, "training"):
        base = base_model(embedder_spec)
        run_dir = run_folder(settings.home / "runs", Path(kb).name, triples, base, options.train)
        model = train_embedder(base, triples, run_dir, options.train)
        report.run_dir = str(run_dir)
    collect_and_release()
    from ingest.embed import SentenceTransformerEmbedder

    tuned = SentenceTransformerEmbedder(model, device=settings.device, precision=settings.embed_precision)
    spec = {**tuned.spec(), "tuned": {"base_model": str(base), "run_dir": str(run_dir), "adapter": _adapter(run_dir)}}
    return gate_and_promote(settings, kb, options, report, tuned, spec, sets, before)


def mine_and_score(settings: Any, kb: str, training: Sequence[PseudoQuery], sets: Sequence[Judged],
                   report: TuneReport) -> tuple[list[Triple], list[list[dict[str, float]]], dict[str, Any]]:
    """(triples, the gate's per-query scores before tuning, the embedder's spec) from one live retriever."""
    from llmapp.retrieve import open_retriever

    with open_retriever(settings, kb) as retriever:
        triples, mined = mine(retriever, training)
        report.negatives = dict(mined.__dict__)
        before = [per_query(retriever.search_many, judged) for judged in sets]
        return triples, before, retriever.snapshot.manifest.embedder.to_dict()


def gate_and_promote(settings: Any, kb: str, options: TuneOptions, report: TuneReport, tuned: Any,
                     spec: dict[str, Any], sets: list[Judged],
                     before: Sequence[Sequence[dict[str, float]]] | None = None) -> TuneReport:
    """Stage `tuned` (an ingest Embedder; `spec` is what the manifest will record), measure, switch if it
    passes the gate and this is not a dry run. `before`: each set's scores on the live knowledge base when
    already measured (None: measured here)."""
    from ingest.store import KnowledgeBase, reembed

    store = KnowledgeBase.open(settings.kb_path(kb, must_exist=True))
    with phase(report, "re-embed"):
        reembed.stage(store, tuned, spec, progress=_bar(reembed.pending(store), "re-embedding"))
    with phase(report, "gate"):
        decision = evaluate(settings, kb, store, tuned, spec, sets, options.margin, before)
    report.gate, report.reason = decision.to_dict(), decision.reason
    if decision.promote and not options.dry_run:
        with phase(report, "switch"):
            spec["tuned"]["gate"] = decision.to_dict()
            report.version = reembed.switch(store, tuned, spec)
            report.promoted = True
    elif decision.promote:
        report.reason = f"--dry-run: would have {decision.reason}"
    return report


def _adapter(run_dir: Path) -> str | None:
    return str(run_dir / "adapter") if (run_dir / "adapter").is_dir() else None


def evaluate(settings: Any, kb: str, store: Any, tuned: Any, spec: dict[str, Any], sets: Sequence[Judged],
             margin: float, before: Sequence[Sequence[dict[str, float]]] | None = None) -> Decision:
    """Each set before (live search, unless `before` holds its scores) and after (the tuned embedder over the
    staged vectors), and the decision."""
    from ingest.store import reembed
    from llmapp.retrieve import HybridRetriever, open_retriever
    from llmapp.retrieve.coverage import kb_coverage

    if before is None:
        with open_retriever(settings, kb) as live:
            before = [per_query(live.search_many, judged) for judged in sets]
    view = reembed.staged_view(store, spec)
    with HybridRetriever(view, tuned, kb_coverage(view, tuned, None)) as after:
        scores_after = [per_query(after.search_many, judged) for judged in sets]
    results = [compare(j.name, b, a) for j, b, a in zip(sets, before, scores_after, strict=True)]
    return decide(results, margin)


def rollback(settings: Any, kb: str) -> int:
    """Return the knowledge base to the embedder it had before the last switch; the new version."""
    from ingest.embed import load_embedder
    from ingest.store import KnowledgeBase, reembed

    store = KnowledgeBase.open(settings.kb_path(kb, must_exist=True))
    return reembed.rollback(store, lambda spec: load_embedder(spec["name"], device=settings.device))


def _bar(total: int, label: str) -> Callable[[int], None] | None:
    if total == 0:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=label, unit="text", leave=False)
    return bar.update

