"""`llmapp eval retrieval`: nDCG@10, recall@10/100, MRR@10 and hit@1/5 of a retriever against judged queries.

Data: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv), a SQuAD-format file (each context is a
document, each question a query whose relevant document is its context), or an existing knowledge base with
queries (JSONL) and qrels (TSV). Chunk hits are mapped to their documents (a document ranks where its best
chunk ranks) before scoring, so the metrics are per document, as BEIR's are.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.embed import Precision

from llmapp.errors import ConfigError, NotFoundError
from llmapp.hits import Hit

log = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]  # query id -> {document id: relevance grade > 0}
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "hit@1", "hit@5")
DEPTH = 100


@dataclass
class Benchmark:
    """Judged queries: {query id: text} and {query id: {doc id: grade}}; unjudged queries are dropped."""

    queries: dict[str, str]
    qrels: Qrels


def read_queries(path: Path) -> dict[str, str]:
    """JSONL with {"id" or "_id": ..., "text": ...} per line."""
    queries: dict[str, str] = {}
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            qid = str(record["_id"] if "_id" in record else record["id"])
            queries[qid] = str(record["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: expected {{\"id\": ..., \"text\": ...}} ({exc})") from exc
    return queries


def read_qrels(path: Path) -> Qrels:
    """TSV `query-id corpus-id score` (a header line is skipped); grades <= 0 are not relevant."""
    qrels: Qrels = {}
    rows = csv.reader(_read_text(path).splitlines(), delimiter="\t")
    for number, row in enumerate(rows, start=1):
        if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
            continue
        if len(row) < 3:
            raise ConfigError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score")
        if int(row[-1]) > 0:
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[-1])
    return qrels


def read_benchmark(queries_path: Path, qrels_path: Path) -> Benchmark:
    queries, qrels = read_queries(queries_path), read_qrels(qrels_path)
    judged = {qid: text for qid, text in queries.items() if qid in qrels}
    if not judged:
        raise ConfigError(f"no query of {queries_path} is judged in {qrels_path}: are the ids the same?")
    return Benchmark(judged, {qid: qrels[qid] for qid in judged})


def beir_files(folder: Path, split: str) -> tuple[Path, Path, Path]:
    """The corpus, queries and qrels/SPLIT.tsv of a BEIR folder (or an error naming the missing one)."""
    paths = (folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv")
    for path in paths:
        if not path.is_file():
            raise NotFoundError(f"{folder} is not a BEIR folder with split {split!r}: {path} is missing")
    return paths


def squad_to_beir(squad_file: Path, folder: Path) -> Path:
    """Write a BEIR folder (split "test") from a SQuAD-format file: contexts become documents (identical
    contexts one document), questions become queries, a question's context its only relevant document."""
    try:
        data = json.loads(_read_text(squad_file))["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{squad_file} is not SQuAD JSON (data[].paragraphs[].qas[]): {exc}") from exc
    corpus: dict[str, dict[str, str]] = {}
    doc_of_context: dict[str, str] = {}
    queries: list[dict[str, str]] = []
    qrels: list[tuple[str, str]] = []
    for article in data:
        for paragraph in article.get("paragraphs", []):
            context = paragraph["context"]
            if context not in doc_of_context:
                doc_of_context[context] = f"c{len(doc_of_context)}"
                corpus[doc_of_context[context]] = {"title": str(article.get("title", "")), "text": context}
            for qa in paragraph.get("qas", []):
                queries.append({"_id": str(qa["id"]), "text": qa["question"]})
                qrels.append((str(qa["id"]), doc_of_context[context]))
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "corpus.jsonl", [{"_id": i, **doc} for i, doc in corpus.items()])
    _write_jsonl(folder / "queries.jsonl", queries)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, d in qrels]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def cached_kb_path(
    cache: Path, corpus: Path, embedder: Mapping[str, Any], chunking: Mapping[str, Any]
) -> Path:
    """Where the knowledge base of this corpus, embedder and chunking lives in `cache`: a changed corpus or
    setting gives another folder, an unchanged one the same (so it is ingested once)."""
    digest = hashlib.sha256()
    with corpus.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    settings = {"embedder": embedder.get("name"), "chunking": chunking}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return cache / f"{corpus.parent.name or 'corpus'}-{digest.hexdigest()[:16]}"


def document_ranking(hits: Sequence[Hit]) -> list[str]:
    """Document ids in the order of their best chunk."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.doc_id, None)
    return list(seen)


def score_ranking(ranking: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    """The metrics of one ranked list of document ids against graded judgements (linear gain, as BEIR)."""
    gains = [relevant.get(doc, 0) for doc in ranking]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(gains) if g > 0), None)
    total = len(relevant)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": sum(1 for g in gains[:10] if g > 0) / total,
        "recall@100": sum(1 for g in gains[:DEPTH] if g > 0) / total,
        "mrr@10": 1.0 / (first + 1) if first is not None and first < 10 else 0.0,
        "hit@1": 1.0 if first == 0 else 0.0,
        "hit@5": 1.0 if first is not None and first < 5 else 0.0,
    }


def mean_metrics(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    if not per_query:
        return dict.fromkeys(METRICS, 0.0)
    return {name: round(sum(m[name] for m in per_query) / len(per_query), 4) for name in METRICS}


Search = Callable[[Sequence[str], int], list[list[Hit]]]


def evaluate(search: Search, benchmark: Benchmark, batch_size: int = 64) -> dict[str, float]:
    """Mean metrics of `search(queries, k)` (e.g. a retriever's `search_many`) over the benchmark."""
    ids = list(benchmark.queries)
    per_query: list[dict[str, float]] = []
    for begin in range(0, len(ids), batch_size):
        batch = ids[begin : begin + batch_size]
        # Chunks of one document collapse into one entry: ask for more chunks than documents scored.
        results = search([benchmark.queries[q] for q in batch], DEPTH + DEPTH // 2)
        for qid, hits in zip(batch, results, strict=True):
            per_query.append(score_ranking(document_ranking(hits)[:DEPTH], benchmark.qrels[qid]))
    return mean_metrics(per_query)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist") from None


def _write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def ingest_cached(corpus: Path, cache: Path, embedder_name: str | None, chunk_tokens: int | None,
                  chunk_overlap: int, device: str | None = None, progress: bool = False,
                  target: Path | str | None = None, precision: Precision = "auto") -> Path | str:
    """The knowledge base of `corpus` in `cache`, ingested on first use and reused while the corpus and the
    settings are unchanged (ingest is incremental: an unchanged corpus embeds nothing). `progress` shows the
    ingest's bars on stderr (a first SciFact ingest takes minutes). `target`: ingest into this knowledge base
    instead (a folder or a milvus:// URI). `precision` (settings' `embed_precision`) embeds the passages, as
    the queries are; a precision other than "auto" gets knowledge bases of its own in the cache."""
    from ingest.embed import load_embedder
    from ingest.pipeline import IngestOptions, ingest

    embedder = load_embedder(embedder_name, device=device, precision=precision)
    chunking = {"tokens": chunk_tokens, "overlap": chunk_overlap} | ({} if precision == "auto" else
                                                                     {"precision": precision})
    kb = target if target is not None else cached_kb_path(cache, corpus, embedder.spec(), chunking)
    log.info("knowledge base for %s: %s", corpus, kb)
    options = IngestOptions(chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, progress=progress)
    report = ingest(kb, [corpus], embedder, options)
    if report.files_failed:
        raise ConfigError(f"{corpus} could not be ingested: {report.files_failed}")
    return kb


def evaluate_modes(settings: Any, kb: Path | str, benchmark: Benchmark,
                   modes: Sequence[str]) -> dict[str, dict[str, float]]:
    """{mode: metrics} for each retrieval mode over the knowledge base `kb`."""
    from llmapp.retrieve import open_retriever

    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        with open_retriever(settings, str(kb), mode=mode) as retriever:
            results[mode] = evaluate(retriever.search_many, benchmark)
    return results
