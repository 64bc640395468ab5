"""Ingest throughput: llmapp against the LangChain recipe a user would otherwise write, in one run.

    LangChain: RecursiveCharacterTextSplitter(500, 50) + HuggingFaceEmbeddings + FAISS.from_documents
    llmapp:    ingest.pipeline.ingest (token-budget chunks, length-sorted batches, docstore + FAISS + BM25)
    same chunks: LangChain's own chunks through llmapp's embedder into a FAISS index, so that chunks/s compares
               equal chunks (llmapp's token-budget chunks hold about 2.4x the tokens of 500-character ones)

Same corpus, same model (`--embedder`: the default multilingual-e5-small, or the shipped all-MiniLM-L6-v2), each
side in its own fresh subprocess so neither warms the other's caches and peak RSS is per side (read when the
side's work ends, before the benchmark's own token count). LangChain gets the model's own `passage: ` prompt
(e5's documented use) through `encode_kwargs`. Also times a re-ingest of the unchanged corpus.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/ingest.py                                    # the sample knowledge base
    .venv/bin/python bench/ingest.py ../shared/eval/scifact/corpus.jsonl --limit 2000
    .venv/bin/python bench/ingest.py ../shared/corpus
    .venv/bin/python bench/ingest.py ../shared/eval/scifact/corpus.jsonl --embedder minilm
    .venv/bin/python bench/ingest.py --engine ray --limit 300           # local vs Ray, 1 and 2 actors

--engine ray times `ingest` on the local engine and on a local Ray instance (`ray.init(num_cpus=2)`) with 1 and
2 embedding actors, each side in its own process; the Ray timings include starting Ray and the actors and
loading the model in each, as a job does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would shadow the `ingest` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))  # the repository root: `bench.measure`

from bench.measure import peak_rss_mb  # noqa: E402


def read_corpus(path: Path, limit: int | None) -> list[tuple[str, str]]:
    """(source, text) pairs: a BEIR corpus.jsonl (title + text per row) or the text files of a folder."""
    if path.suffix == ".jsonl":
        rows = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                title = row.get("title") or ""
                rows.append((str(row.get("_id")), f"{title}\n\n{row['text']}" if title else row["text"]))
                if limit and len(rows) >= limit:
                    break
        return rows
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".txt", ".md"})[:limit]
    return [(str(p), p.read_text(encoding="utf-8", errors="replace")) for p in files]


def materialise(rows: list[tuple[str, str]], folder: Path) -> Path:
    """The same texts as a JSONL file llmapp ingests (one document per row)."""
    out = folder / "corpus.jsonl"
    with open(out, "w", encoding="utf-8") as handle:
        for doc_id, text in rows:
            handle.write(json.dumps({"_id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    return out


def model_folder(embedder: str) -> Path:
    from llmcommon.models import E5_ALIASES, e5_small_path, minilm_path

    return e5_small_path() if embedder in E5_ALIASES else minilm_path()


def run_langchain(corpus: Path, limit: int | None, embedder: str) -> dict[str, float]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    rows = read_corpus(corpus, limit)
    docs = [Document(page_content=text, metadata={"source": src}) for src, text in rows]
    chunks = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50).split_documents(docs)
    folder = model_folder(embedder)
    encode: dict[str, object] = {"normalize_embeddings": True}
    if embedder != "minilm":
        encode["prompt_name"] = "passage"
    embeddings = HuggingFaceEmbeddings(model_name=str(folder), encode_kwargs=encode)
    FAISS.from_documents(chunks, embeddings)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()  # before the benchmark's own token count loads a tokenizer of its own
    tokens = _token_counts([c.page_content for c in chunks], embedder)
    return {"chunks": len(chunks), "seconds": seconds, "tokens": tokens[0], "truncated": tokens[1],
            "peak_rss_mb": peak}


def run_llmapp(corpus: Path, limit: int | None, kb: Path, embedder: str, actors: int = 0) -> dict[str, float]:
    """An ingest on the local engine (actors=0) or on that many Ray actors."""
    from ingest.embed import load_embedder
    from ingest.pipeline import IngestOptions, ingest

    with tempfile.TemporaryDirectory() as tmp:
        jsonl = materialise(read_corpus(corpus, limit), Path(tmp))
        started = time.perf_counter()
        options = IngestOptions(progress=False, engine=_ray_engine(actors) if actors else None)
        report = ingest(kb, [jsonl], load_embedder(embedder), options)
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        second = ingest(kb, [jsonl], load_embedder(embedder), IngestOptions(progress=False))
        reingest = time.perf_counter() - again
    peak = peak_rss_mb()  # before the benchmark's own token count loads a tokenizer of its own
    from ingest.store import KnowledgeBase

    with KnowledgeBase.open(kb).snapshot() as snap:
        texts = [record.text for record in snap.chunks(snap.chunk_ids()).values()]
    tokens = _token_counts(texts, embedder)
    assert second.texts_embedded == 0, second
    return {"chunks": report.chunks_added, "embedded": report.texts_embedded, "seconds": seconds,
            "reingest_seconds": reingest, "tokens": tokens[0], "truncated": tokens[1], "peak_rss_mb": peak}


def _ray_engine(actors: int) -> Any:
    import ray

    from ingest.ray_embed import ray_embed_engine

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    return ray_embed_engine(actors=actors)


def run_same_chunks(corpus: Path, limit: int | None, embedder: str) -> dict[str, float]:
    """LangChain's splitter output, embedded by llmapp's embedder and added to a FAISS inner-product index."""
    import faiss
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.embed import load_embedder

    started = time.perf_counter()
    rows = read_corpus(corpus, limit)
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    chunks = [chunk for _, text in rows for chunk in splitter.split_text(text)]
    model = load_embedder(embedder)
    vectors = model.embed(chunks, role="passage")
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(model.dimension))
    index.add_with_ids(vectors, np.arange(len(chunks), dtype=np.int64))
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()  # before the benchmark's own token count loads a tokenizer of its own
    tokens = _token_counts(chunks, embedder)
    return {"chunks": len(chunks), "seconds": seconds, "tokens": tokens[0], "truncated": tokens[1],
            "peak_rss_mb": peak}


def _token_counts(texts: list[str], embedder: str) -> tuple[int, int]:
    """Total model tokens, and how many chunks exceed the model's window (silently truncated)."""
    from transformers import AutoTokenizer

    folder = model_folder(embedder)
    window = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
    tok = AutoTokenizer.from_pretrained(str(folder))
    lengths = [len(ids) for ids in tok(texts, add_special_tokens=True)["input_ids"]]
    return sum(lengths), sum(1 for n in lengths if n > window)


def child(side: str, corpus: Path, limit: int | None, kb: str, embedder: str) -> None:
    if side == "langchain":
        result = run_langchain(corpus, limit, embedder)
    elif side == "same-chunks":
        result = run_same_chunks(corpus, limit, embedder)
    elif side.startswith("ray"):
        result = run_llmapp(corpus, limit, Path(kb), embedder, actors=int(side[3:]))
    else:
        result = run_llmapp(corpus, limit, Path(kb), embedder)
    print(json.dumps(result))


def measure(side: str, corpus: Path, limit: int | None, kb: Path, embedder: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, str(corpus), "--side", side, "--kb", str(kb), "--embedder", embedder]
    if limit:
        cmd += ["--limit", str(limit)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"the {side} side failed (exit {out.returncode}):\n{out.stderr.strip()[-3000:]}\n"
                 'is the bench extra installed? .venv/bin/pip install -e ".[bench]"')
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "examples" / "kb")
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="ray: the local engine against Ray Data with 1 and 2 actors")
    parser.add_argument("--side", choices=["langchain", "llmapp", "same-chunks", "ray1", "ray2"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--kb", default="", help=argparse.SUPPRESS)
    parser.add_argument("--embedder", choices=["e5-small", "minilm"], default="e5-small",
                        help="the shipped encoder both sides use (default: e5-small, llmapp's default)")
    args = parser.parse_args()
    if args.side:
        child(args.side, args.corpus, args.limit, args.kb, args.embedder)
        return
    if args.engine == "ray":
        compare_engines(args.corpus, args.limit, args.embedder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        lc = measure("langchain", args.corpus, args.limit, Path(tmp) / "unused", args.embedder)
        us = measure("llmapp", args.corpus, args.limit, Path(tmp) / "kb", args.embedder)
        same = measure("same-chunks", args.corpus, args.limit, Path(tmp) / "unused", args.embedder)
    report(args.corpus, lc, us, args.embedder)
    print(f"\nsame chunks (LangChain's {lc['chunks']:.0f}), llmapp's embedder + FAISS: "
          f"{same['chunks'] / same['seconds']:.1f} chunks/s against {lc['chunks'] / lc['seconds']:.1f} "
          f"({(same['chunks'] / same['seconds']) / (lc['chunks'] / lc['seconds']):.2f}x), "
          f"peak RSS {same['peak_rss_mb']:.0f} MB")


def compare_engines(corpus: Path, limit: int | None, embedder: str) -> None:
    """chunks/s of the local engine and of Ray with 1 and 2 actors, each in its own process."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("llmapp", "ray1", "ray2"):
            results[side] = measure(side, corpus, limit, Path(tmp) / side, embedder)
    local = results["llmapp"]["chunks"] / results["llmapp"]["seconds"]
    print(f"corpus: {corpus}, {results['llmapp']['chunks']:.0f} chunks, embedder: {embedder}\n")
    print(f"{'engine':24}{'seconds':>10}{'chunks/s':>10}{'x local':>9}")
    for side, name in (("llmapp", "local"), ("ray1", "ray, 1 actor"), ("ray2", "ray, 2 actors")):
        r = results[side]
        rate = r["chunks"] / r["seconds"]
        print(f"{name:24}{r['seconds']:10.1f}{rate:10.1f}{rate / local:9.2f}")


def report(corpus: Path, lc: dict[str, float], us: dict[str, float], embedder: str) -> None:
    rows = [
        ("chunks", lc["chunks"], us["chunks"]),
        ("chunks over the window (truncated)", lc["truncated"], us["truncated"]),
        ("tokens embedded", lc["tokens"], us["tokens"]),
        ("seconds, full ingest", lc["seconds"], us["seconds"]),
        ("chunks/s", lc["chunks"] / lc["seconds"], us["chunks"] / us["seconds"]),
        ("tokens/s", lc["tokens"] / lc["seconds"], us["tokens"] / us["seconds"]),
        ("peak RSS MB", lc["peak_rss_mb"], us["peak_rss_mb"]),
    ]
    print(f"corpus: {corpus}, embedder: {embedder}\n")
    print(f"{'':38}{'LangChain':>12}{'llmapp':>12}{'llmapp/LC':>11}")
    for name, a, b in rows:
        print(f"{name:38}{a:12.1f}{b:12.1f}{(b / a if a else float('nan')):11.2f}")
    print(f"\nllmapp re-ingest of the unchanged corpus: {us['reingest_seconds']:.2f}s "
          f"({100 * us['reingest_seconds'] / us['seconds']:.1f}% of a full ingest)")
    print(f"corpus ingested {lc['seconds'] / us['seconds']:.2f}x faster by llmapp (same texts, same model)")


if __name__ == "__main__":
    main()
