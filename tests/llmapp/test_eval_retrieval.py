"""Retrieval metrics against hand-computed values, the BEIR readers and the SQuAD conversion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from llmapp.errors import ConfigError
from llmapp.eval_retrieval import (
    beir_files,
    cached_kb_path,
    evaluate,
    read_benchmark,
    score_ranking,
    squad_to_beir,
)
from llmapp.hits import Hit
from tests.support.retrieval_fixtures import write_tiny_beir


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": "", "text": f"text {i}"} for i in range(1, 6)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}, {"_id": "q3", "text": "unjudged"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    qrels = "query-id\tcorpus-id\tscore\nq1\td2\t1\nq1\td4\t2\nq2\td5\t1\nq2\td1\t0\n"
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


def hit(doc: str, rank: int) -> Hit:
    return Hit(rank=rank, score=1.0 / rank, text="", source="corpus.jsonl", doc_id=doc, chunk_id=rank, ordinal=0,
               span=(0, 1))


def test_score_ranking_by_hand() -> None:
    # Ranking d1 d2 d3 d4 against {d2: 1, d4: 2}: DCG = 1/log2(3) + 2/log2(5); ideal = 2/log2(2) + 1/log2(3).
    metrics = score_ranking(["d1", "d2", "d3", "d4"], {"d2": 1, "d4": 2})
    dcg = 1 / math.log2(3) + 2 / math.log2(5)
    idcg = 2 + 1 / math.log2(3)
    assert metrics["ndcg@10"] == pytest.approx(dcg / idcg)
    assert metrics["mrr@10"] == pytest.approx(0.5)
    assert metrics["hit@1"] == 0.0 and metrics["hit@5"] == 1.0
    assert metrics["recall@10"] == 1.0 and metrics["recall@100"] == 1.0


def test_evaluate_maps_chunks_to_documents_and_averages(tmp_path: Path) -> None:
    corpus, queries, qrels = beir_files(write_beir(tmp_path / "beir"), "test")
    benchmark = read_benchmark(queries, qrels)
    assert set(benchmark.queries) == {"q1", "q2"}  # q3 has no judgement; q2's grade-0 pair is not relevant
    assert benchmark.qrels["q2"] == {"d5": 1}
    rankings = {"first": ["d4", "d4", "d1", "d2"], "second": ["d1", "d2", "d3"]}  # two chunks of d4

    def search(texts: list[str], k: int) -> list[list[Hit]]:
        return [[hit(doc, i + 1) for i, doc in enumerate(rankings[t])] for t in texts]

    metrics = evaluate(search, benchmark)
    # q1: documents d4 d1 d2 -> DCG = 2 + 1/log2(4) = 2.5, ideal 2 + 1/log2(3); q2 finds nothing relevant.
    q1_ndcg = 2.5 / (2 + 1 / math.log2(3))
    assert metrics["ndcg@10"] == pytest.approx(round(q1_ndcg / 2, 4))
    assert metrics["mrr@10"] == 0.5 and metrics["hit@1"] == 0.5 and metrics["recall@10"] == 0.5


def test_missing_split_names_the_file(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    with pytest.raises(Exception, match="train.tsv"):
        beir_files(folder, "train")


def test_squad_conversion(tmp_path: Path) -> None:
    squad = {"data": [{"title": "泡泡", "paragraphs": [
        {"context": "第一段。", "qas": [{"id": "a1", "question": "第一？", "answers": [{"text": "一"}]},
                                         {"id": "a2", "question": "还是第一？", "answers": []}]},
        {"context": "第二段。", "qas": [{"id": "b1", "question": "第二？", "answers": []}]},
        {"context": "第一段。", "qas": [{"id": "c1", "question": "重复的段落？", "answers": []}]}]}]}
    source = tmp_path / "squad.json"
    source.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    corpus, queries, qrels = beir_files(squad_to_beir(source, tmp_path / "out"), "test")
    documents = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    assert documents == [{"_id": "c0", "title": "泡泡", "text": "第一段。"},
                         {"_id": "c1", "title": "泡泡", "text": "第二段。"}]
    benchmark = read_benchmark(queries, qrels)
    assert benchmark.queries["a2"] == "还是第一？"
    assert benchmark.qrels == {"a1": {"c0": 1}, "a2": {"c0": 1}, "b1": {"c1": 1}, "c1": {"c0": 1}}


def test_squad_rejects_other_json(tmp_path: Path) -> None:
    source = tmp_path / "x.json"
    source.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="SQuAD"):
        squad_to_beir(source, tmp_path / "out")


def test_cache_key_follows_corpus_and_settings(tmp_path: Path) -> None:
    corpus = write_beir(tmp_path / "beir") / "corpus.jsonl"
    first = cached_kb_path(tmp_path, corpus, {"name": "minilm"}, {"tokens": None})
    assert first == cached_kb_path(tmp_path, corpus, {"name": "minilm"}, {"tokens": None})
    assert first != cached_kb_path(tmp_path, corpus, {"name": "hash:64"}, {"tokens": None})
    corpus.write_text(corpus.read_text() + '{"_id": "d9", "text": "new"}\n')
    assert first != cached_kb_path(tmp_path, corpus, {"name": "minilm"}, {"tokens": None})


def test_eval_retrieval_cli_on_a_beir_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llmapp.cli import app

    folder = write_tiny_beir(tmp_path / "beir", queries=2)
    env = {"LLMAPP_HOME": str(tmp_path / "home"), "LLMAPP_EMBEDDER": "hash:64"}
    args = ["eval", "retrieval", "--beir", str(folder), "--split", "dev", "--compare", "--json"]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    results = json.loads(first.stdout)
    assert set(results) == {"hybrid", "dense", "lexical"}
    assert results["lexical"]["hit@1"] == 1.0 and results["hybrid"]["ndcg@10"] == 1.0
    cached = list((tmp_path / "home" / "cache" / "eval").iterdir())
    assert len(cached) == 1
    stamp = (cached[0] / "dense.faiss").stat().st_mtime_ns
    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 0 and json.loads(again.stdout) == results
    assert (cached[0] / "dense.faiss").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_the_corpus_is_embedded_in_the_configured_precision_into_a_cache_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.embed import load_embedder
    from ingest.store import KnowledgeBase
    from llmapp.eval_retrieval import ingest_cached
    from llmcommon.e5_small import e5_small_folder
    from tests.support.e5_fixtures import write_tiny_e5

    monkeypatch.setenv("LLMAPP_CACHE", str(tmp_path / "llmapp-cache"))
    write_tiny_e5(tmp_path / "tiny.bin")
    model = str(e5_small_folder(tmp_path / "models", source=tmp_path / "tiny.bin"))
    corpus = write_beir(tmp_path / "beir") / "corpus.jsonl"
    kbs = {precision: ingest_cached(corpus, tmp_path / "cache", model, None, 0, precision=precision)
           for precision in ("auto", "float32", "int8")}
    assert len(set(kbs.values())) == 3
    spec = load_embedder(model).spec()
    assert kbs["auto"] == cached_kb_path(tmp_path / "cache", corpus, spec, {"tokens": None, "overlap": 0})
    vectors = {}
    for precision, kb in kbs.items():
        with KnowledgeBase.open(Path(kb)).snapshot() as snapshot:
            vectors[precision] = snapshot.vectors()[1]
    assert vectors["int8"].shape == vectors["float32"].shape == (5, spec["dimension"])
    assert not np.array_equal(vectors["int8"], vectors["float32"])  # the passages were embedded as configured
    assert np.min(np.sum(vectors["int8"] * vectors["float32"], axis=1)) > 0.99
