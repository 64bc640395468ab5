"""Switching a knowledge base to another embedder (`llmapp kb tune`), crash-safe like every other write.

    stage(kb, embedder)   vectors of every text under the new embedder, built aside in `staged_vectors`, in
                          batches that each commit: a kill -9 loses one batch and a re-run goes on from there.
                          Readers never look at this table; they keep answering from the live vectors.
    staged_view(kb, spec) a snapshot as it would be after the switch (it reads the staged vectors):
                          what the tuning gate measures before anything is promoted.
    switch(kb, embedder)  one SQLite transaction: the live vectors move to `previous_vectors`, the staged ones
                          become live, meta's `embedder` names the new embedder and the version is bumped.
                          Then manifest.json and the index files follow (the store's usual repair covers a
                          crash in between: SQLite's meta row is the truth, see `manifest.with_current_embedder`).
    rollback(kb, loader)  stages the previous embedder again (its kept vectors, plus fresh ones for texts
                          ingested since) and switches back.

A reader's snapshot pins one version, so a server answers from the old embedder until the switch commits and
from the new one after it, never from a mix.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import KnowledgeBaseError
from ingest.store.knowledge_base import KnowledgeBase
from ingest.store.manifest import EmbedderSpec
from ingest.store.schema import build_dense, connect, read_meta, transaction
from ingest.store.snapshot import Snapshot
from ingest.store.writer import Writer

if TYPE_CHECKING:
    from ingest.embed import Embedder

STAGE_BATCH = 256
_SCHEMA = """
CREATE TABLE IF NOT EXISTS staged_vectors (text_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS previous_vectors (text_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
"""
Progress = Callable[[int], None]


def _spec_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, ensure_ascii=False)


def _prepare(writer: Writer, spec: dict[str, Any]) -> None:
    """Create the tables; drop staged vectors of another embedder (an earlier, different tuning). The spec's
    other fields (what the manifest records, e.g. the gate's figures) may change between staging and switch."""
    writer.conn.executescript(_SCHEMA)
    staged = read_meta(writer.conn).get("staged_embedder")
    same = staged is not None and _identity(json.loads(staged)) == _identity(spec)
    with transaction(writer.conn):
        if not same:
            writer.conn.execute("DELETE FROM staged_vectors")
        writer.conn.execute("INSERT OR REPLACE INTO meta VALUES ('staged_embedder', ?)", (_spec_json(spec),))


def _identity(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    return spec.get("name"), spec.get("path"), spec.get("dimension")


def _unstaged(writer: Writer, limit: int) -> list[tuple[int, str]]:
    return writer.conn.execute(
        "SELECT id, text FROM texts WHERE id NOT IN (SELECT text_id FROM staged_vectors) ORDER BY id LIMIT ?",
        (limit,)).fetchall()


def _stage_missing(writer: Writer, embedder: Embedder, progress: Progress | None) -> int:
    done = 0
    while rows := _unstaged(writer, STAGE_BATCH):
        vectors = embedder.embed([text for _, text in rows])
        with transaction(writer.conn):
            writer.conn.executemany("INSERT OR REPLACE INTO staged_vectors VALUES (?, ?)",
                                    [(tid, vec.astype(np.float32).tobytes()) for (tid, _), vec in zip(rows, vectors,
                                                                                                       strict=True)])
        done += len(rows)
        if progress is not None:
            progress(len(rows))
    return done


def pending(kb: KnowledgeBase) -> int:
    """Texts that have no staged vector yet (what `stage` still has to embed)."""
    with contextlib.closing(connect(kb.path)) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'staged_vectors'").fetchall():
            return int(conn.execute("SELECT count(*) FROM texts").fetchone()[0])
        return int(conn.execute(
            "SELECT count(*) FROM texts WHERE id NOT IN (SELECT text_id FROM staged_vectors)").fetchone()[0])


def stage(kb: KnowledgeBase, embedder: Embedder, spec: dict[str, Any], progress: Progress | None = None) -> int:
    """Embed every text not yet staged for `spec` (the embedder's spec plus what the manifest should record).
    Returns how many texts were embedded now; 0 when a previous run already staged them all."""
    with kb.writer() as writer:
        _prepare(writer, spec)
        return _stage_missing(writer, embedder, progress)


def staged_view(kb: KnowledgeBase, spec: dict[str, Any]) -> Snapshot:
    """A snapshot that reads the staged vectors as if they were live: a TEMP view named `texts` (SQLite looks
    in temp before main) on the snapshot's own connection, and a dense index built from those vectors. Every
    reader of a snapshot (search, coverage) then sees the knowledge base as it would be after the switch."""
    snap = kb.snapshot()
    snap._rows("CREATE TEMP VIEW texts AS SELECT m.id, m.sha256, m.text, m.tokens, s.vector AS vector "
               "FROM main.texts m JOIN main.staged_vectors s ON s.text_id = m.id")
    missing = snap._rows("SELECT count(*) FROM main.chunks c WHERE c.text_id NOT IN (SELECT id FROM texts)")[0][0]
    if missing:
        snap.close()
        raise KnowledgeBaseError(f"{kb.path}: {missing} chunks have no staged vector; stage the embedder again "
                                 "(`llmapp kb tune` does it on a re-run)")
    snap.manifest = replace(snap.manifest, embedder=EmbedderSpec.from_dict(spec))
    ids, vectors = snap.vectors()
    snap._dense = build_dense(int(spec["dimension"]), ids, vectors)
    return snap


def switch(kb: KnowledgeBase, embedder: Embedder, spec: dict[str, Any], progress: Progress | None = None) -> int:
    """Make the staged vectors live under `spec` (see the module doc). Returns the new version."""
    with kb.writer() as writer:
        _prepare(writer, spec)
        _stage_missing(writer, embedder, progress)  # texts an ingest added after the staging
        with transaction(writer.conn):
            version = _swap(writer, spec)
        fresh = KnowledgeBase.open(kb.path)
        fresh.manifest.write(kb.path)
        repair = Writer(fresh)
        try:
            repair.sync_indexes()
        finally:
            repair.close()
    return version


def _swap(writer: Writer, spec: dict[str, Any]) -> int:
    conn = writer.conn
    missing = conn.execute("SELECT count(*) FROM texts WHERE id NOT IN (SELECT text_id FROM staged_vectors)")
    if int(missing.fetchone()[0]):
        raise KnowledgeBaseError(f"{writer.kb.path}: texts without a staged vector at the switch; re-run it")
    meta = read_meta(conn)
    current = meta.get("embedder") or _spec_json(writer.kb.manifest.embedder.to_dict())
    conn.execute("DELETE FROM previous_vectors")
    conn.execute("INSERT INTO previous_vectors SELECT id, vector FROM texts")
    conn.execute("UPDATE texts SET vector = (SELECT vector FROM staged_vectors s WHERE s.text_id = texts.id)")
    conn.execute("DELETE FROM staged_vectors")
    version = int(meta.get("version", "0")) + 1
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
        ("previous_embedder", current), ("embedder", _spec_json(spec)), ("version", str(version))])
    conn.execute("DELETE FROM meta WHERE key = 'staged_embedder'")
    return version


def previous_embedder(kb: KnowledgeBase) -> dict[str, Any] | None:
    """The embedder before the last switch, or None when the knowledge base was never switched."""
    with kb.snapshot() as snap:
        raw = snap.meta.get("previous_embedder")
    return None if raw is None else dict(json.loads(raw))


def rollback(kb: KnowledgeBase, load: Callable[[dict[str, Any]], Embedder], progress: Progress | None = None) -> int:
    """Switch back to the previous embedder (`load(spec)` gives it, for texts ingested since). New version."""
    spec = previous_embedder(kb)
    if spec is None:
        raise KnowledgeBaseError(f"{kb.path} has no previous embedder: it was never tuned")
    with kb.writer() as writer:
        _prepare(writer, spec)
        with transaction(writer.conn):
            writer.conn.execute("INSERT OR IGNORE INTO staged_vectors SELECT text_id, vector FROM previous_vectors "
                                "WHERE text_id IN (SELECT id FROM texts)")
    return switch(kb, load(spec), spec, progress)
