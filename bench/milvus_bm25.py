"""Which BM25 ranks better on a Milvus knowledge base: Milvus's own BM25 function (server-side analyzer) or our
jieba/Snowball tokens with our weights (what ingest.milvus stores, equal to the local store's lexical search).

The corpus is ingested into a local knowledge base (hash embedder: only the chunks matter here); its chunks are
copied into one Milvus collection per analyzer with a BM25 function, and every query is searched there. nDCG@10
of lexical retrieval per variant, same chunks, same queries, one run.

    milvus-lite server --data-dir /tmp/mq --host 127.0.0.1 --port 19540 &
    .venv/bin/python bench/milvus_bm25.py --milvus 127.0.0.1:19540 --squad ../shared/eval/cmrc2018/cmrc2018_trial.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ANALYZERS: dict[str, dict[str, Any]] = {"jieba": {"tokenizer": "jieba"}, "standard": {"type": "standard"}}


def native_collection(client: Any, name: str, analyzer: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=analyzer)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    params = client.prepare_index_params()
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": 1.2, "bm25_b": 0.75})
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
    for begin in range(0, len(rows), 256):
        client.insert(name, rows[begin : begin + 256])


def native_search(client: Any, name: str, snapshot: Any) -> Any:
    from llmapp.hits import Hit

    def search(queries: list[str], k: int) -> list[list[Hit]]:
        found = client.search(name, data=list(queries), anns_field="sparse", limit=k, output_fields=["id"])
        out = []
        for hits in found:
            records = snapshot.chunks(int(h["id"]) for h in hits)
            out.append([Hit(rank=i + 1, score=abs(float(h["distance"])), text=r.text, source=r.source,
                            doc_id=r.doc_id, chunk_id=r.chunk_id, ordinal=r.ordinal, span=(r.start, r.end))
                        for i, h in enumerate(hits) if (r := records.get(int(h["id"]))) is not None])
        return out
    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--milvus", required=True, help="HOST:PORT")
    args = parser.parse_args()
    from pymilvus import MilvusClient

    from ingest.embed import HashEmbedder
    from ingest.pipeline import IngestOptions, ingest
    from ingest.store import KnowledgeBase
    from llmapp.eval_retrieval import beir_files, evaluate, read_benchmark, squad_to_beir
    from llmapp.retrieve import build_retriever

    client = MilvusClient(uri=f"http://{args.milvus}")
    with tempfile.TemporaryDirectory() as scratch:
        corpus, queries, qrels = beir_files(squad_to_beir(args.squad, Path(scratch) / "beir"), "test")
        benchmark = read_benchmark(queries, qrels)
        ingest(Path(scratch) / "kb", [corpus], HashEmbedder(64, max_tokens=512), IngestOptions(progress=False))
        base = KnowledgeBase.open(Path(scratch) / "kb")
        results: dict[str, float] = {}
        with build_retriever(base, None, "lexical") as ours:
            results["ours (jieba search mode + Snowball, as local)"] = evaluate(ours.search_many, benchmark)["ndcg@10"]
        with base.snapshot() as snap:
            rows = [{"id": int(cid), "text": r.text} for cid, r in snap.chunks(snap.chunk_ids()).items()]
            for label, analyzer in ANALYZERS.items():
                name = f"bm25_native_{label}"
                native_collection(client, name, analyzer, rows)
                results[f"Milvus BM25 function, {label} analyzer"] = evaluate(native_search(client, name, snap),
                                                                              benchmark)["ndcg@10"]
                client.drop_collection(name)
    print(f"{args.squad}: {len(benchmark.queries)} queries, {len(rows)} chunks, lexical nDCG@10")
    for label, value in results.items():
        print(f"  {label:<52}{value:.4f}")


if __name__ == "__main__":
    main()
