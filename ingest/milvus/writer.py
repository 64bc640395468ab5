"""The write side of a Milvus knowledge base, with the local `Writer`'s methods (ingest.pipeline drives both).

Embedded texts wait in memory until `commit`, which for each changed file deletes the file's chunks and inserts
the new ones (reusing the vectors of texts already stored), then upserts the term statistics, the file rows and
last the meta row with the new version. A file's row is written after its chunks, so an ingest killed part-way
is finished by the next run (the file still looks changed); the BM25 statistics of the chunks it touched may
then be off until the file changes again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ingest.errors import KnowledgeBaseError
from ingest.lexical import tokenize
from ingest.milvus.bm25 import Term, TermTable, saturations
from ingest.milvus.collections import CHUNKS, FILES, TERMS, UNUSED, batches, collection, in_list, quoted, scan
from ingest.milvus.meta import read_meta, write_meta
from ingest.milvus.uri import MilvusLocation
from ingest.store.records import FileChange

INSERT_BATCH = 256


class MilvusWriter:
    """Valid for one ingest; not safe to run two at once on the same knowledge base (Milvus has no lock)."""

    def __init__(self, client: Any, location: MilvusLocation) -> None:
        self.client = client
        self.location = location
        self._pending: dict[str, tuple[str, np.ndarray]] = {}  # sha256 -> (text, vector), not yet committed

    def _name(self, part: str) -> str:
        return collection(self.location, part)

    def close(self) -> None:
        self._pending.clear()

    def files(self) -> dict[str, tuple[str, int, int]]:
        """Known files: path -> (sha256, size, mtime_ns)."""
        rows = scan(self.client, self._name(FILES), ["path", "sha256", "size", "mtime_ns"], 'path != ""')
        return {r["path"]: (r["sha256"], int(r["size"]), int(r["mtime_ns"])) for r in rows}

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content is unchanged."""
        rows = self.client.query(self._name(FILES), filter=f"path == {quoted(path)}", output_fields=["*"])
        if rows:
            row = {key: rows[0][key] for key in ("path", "sha256", "documents", "chunks", "ingested_at")}
            self.client.upsert(self._name(FILES), [{**row, "size": size, "mtime_ns": mtime_ns, "unused": UNUSED}])

    def known_texts(self, shas: Iterable[str]) -> set[str]:
        wanted = sorted(set(shas))
        known = {sha for sha in wanted if sha in self._pending}
        for part in batches([sha for sha in wanted if sha not in known]):
            rows = self.client.query(self._name(CHUNKS), filter=in_list("text_sha", part), output_fields=["text_sha"])
            known.update(row["text_sha"] for row in rows)
        return known

    def add_texts(self, rows: Sequence[tuple[str, str, list[str], np.ndarray]]) -> None:
        """Hold embedded texts (sha256, text, tokens, vector) for `commit`."""
        for sha, text, _tokens, vector in rows:
            self._pending[sha] = (text, np.asarray(vector, dtype=np.float32))

    def commit(self, changes: Sequence[FileChange]) -> tuple[list[int], list[int]]:
        """Replace the changed files' chunks and bump the version. Returns (added, removed) chunk ids."""
        meta = read_meta(self.client, self.location)
        terms = self._load_terms()
        removed, removed_length = self._remove(changes, terms)
        n_chunks = int(meta.get("n_chunks", "0")) - len(removed)
        total = int(meta.get("total_length", "0")) - removed_length
        rows, files = self._new_rows(changes, int(meta.get("next_id", "1")))
        n_chunks += len(rows)
        total += sum(row["length"] for row in rows)
        avg_len = total / n_chunks if n_chunks else 1.0
        for row in rows:
            row["sparse"] = terms.add(saturations(row.pop("tokens"), avg_len))
        for part in batches(rows, INSERT_BATCH):
            self.client.insert(self._name(CHUNKS), list(part))
        self._save_terms(terms)
        if files:
            self.client.upsert(self._name(FILES), files)
        next_id = max([int(meta.get("next_id", "1"))] + [row["id"] + 1 for row in rows])
        write_meta(self.client, self.location, {
            "version": str(int(meta.get("version", "0")) + 1), "next_id": str(next_id), "n_chunks": str(n_chunks),
            "total_length": str(total), "max_weight": repr(terms.max_weight(n_chunks))})
        self._pending.clear()
        return [row["id"] for row in rows], removed

    def _remove(self, changes: Sequence[FileChange], terms: TermTable) -> tuple[list[int], int]:
        removed: list[int] = []
        length = 0
        for change in changes:
            where = f"file == {quoted(change.path)}"
            for row in scan(self.client, self._name(CHUNKS), ["id", "sparse", "length"], where):
                removed.append(int(row["id"]))
                length += int(row["length"])
                terms.remove(_sparse_keys(row["sparse"]))
            self.client.delete(self._name(CHUNKS), filter=where)
            if change.documents is None:
                self.client.delete(self._name(FILES), filter=f"path == {quoted(change.path)}")
        return removed, length

    def _new_rows(self, changes: Sequence[FileChange], next_id: int) -> tuple[list[dict[str, Any]],
                                                                               list[dict[str, Any]]]:
        texts = self._texts_of({sha for c in changes for d in c.documents or [] for sha, *_ in d.chunks})
        rows: list[dict[str, Any]] = []
        files: list[dict[str, Any]] = []
        for change in changes:
            if change.documents is None:
                continue
            first = len(rows)
            for doc in change.documents:
                for sha, ordinal, start, end, n_tokens, metadata in doc.chunks:
                    text, vector = texts[sha]
                    tokens = tokenize(text)
                    rows.append({
                        "id": next_id + len(rows), "file": change.path, "doc_id": doc.doc_id, "title": doc.title,
                        "ordinal": ordinal, "start": start, "end": end, "n_tokens": n_tokens, "text": text,
                        "text_sha": sha, "metadata": {**doc.metadata, **metadata}, "length": len(tokens),
                        "dense": vector.tolist(), "tokens": tokens})
            files.append({"path": change.path, "sha256": change.sha256, "size": change.size,
                          "mtime_ns": change.mtime_ns, "documents": len(change.documents),
                          "chunks": len(rows) - first, "ingested_at": time.time(), "unused": UNUSED})
        return rows, files

    def _texts_of(self, shas: set[str]) -> dict[str, tuple[str, np.ndarray]]:
        """Text and vector of each sha: embedded in this run, else read back from a stored chunk."""
        out = {sha: self._pending[sha] for sha in shas if sha in self._pending}
        for part in batches(sorted(shas - set(out))):
            rows = self.client.query(self._name(CHUNKS), filter=in_list("text_sha", part),
                                     output_fields=["text_sha", "text", "dense"])
            for row in rows:
                out[row["text_sha"]] = (row["text"], np.asarray(row["dense"], dtype=np.float32))
        missing = shas - set(out)
        if missing:
            raise KnowledgeBaseError(f"chunk text {sorted(missing)[0][:12]} was not embedded first")
        return out

    def _load_terms(self) -> TermTable:
        rows = scan(self.client, self._name(TERMS), ["term", "tid", "df", "maxsat"], 'term != ""')
        return TermTable({r["term"]: Term(int(r["tid"]), int(r["df"]), float(r["maxsat"])) for r in rows})

    def _save_terms(self, terms: TermTable) -> None:
        rows = [{"term": term, "tid": terms.terms[term].tid, "df": terms.terms[term].df,
                 "maxsat": terms.terms[term].maxsat, "unused": UNUSED} for term in sorted(terms.changed)]
        for part in batches(rows, 2000):
            self.client.upsert(self._name(TERMS), list(part))

    def sync_indexes(self, added: Sequence[int] = (), removed: Sequence[int] = ()) -> None:
        """Milvus keeps its own indexes current: nothing to rewrite."""

    def indexes_current(self) -> bool:
        return True


def _sparse_keys(sparse: Any) -> list[int]:
    """The term ids of a sparse vector as pymilvus returns it (a dict, or a scipy row)."""
    if isinstance(sparse, dict):
        return [int(key) for key in sparse]
    return [int(key) for key in getattr(sparse, "indices", [])]
