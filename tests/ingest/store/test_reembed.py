"""Switching a knowledge base's embedder: staged aside, one atomic switch, rollback; kill -9 while staging
leaves the old embedder answering and a re-run finishes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from ingest.embed import HashEmbedder, load_embedder
from ingest.store import KnowledgeBase, Manifest, reembed
from tests.support.retrieval_fixtures import EN, ZH, build_kb


def _live_vectors(kb: Path) -> np.ndarray:
    with KnowledgeBase.open(kb).snapshot() as snap:
        return snap.vectors()[1]


def _texts(kb: Path) -> list[str]:
    with KnowledgeBase.open(kb).snapshot() as snap:
        records = snap.chunks(snap.chunk_ids())
        return [records[cid].text for cid in sorted(records)]


def test_switch_makes_the_staged_vectors_live_and_rollback_restores_the_old_ones(tmp_path: Path) -> None:
    kb_path = build_kb(tmp_path, {**ZH, **EN})
    before = _live_vectors(kb_path)
    kb = KnowledgeBase.open(kb_path)
    old_version = kb.version()
    new = HashEmbedder(32)
    spec = {**new.spec(), "tuned": {"run": "somewhere"}}
    assert reembed.stage(kb, new, spec) == len(before)
    assert reembed.stage(kb, new, spec) == 0  # everything already staged
    reader = kb.snapshot()  # a reader opened before the switch
    version = reembed.switch(kb, new, spec)
    assert version == old_version + 1
    switched = KnowledgeBase.open(kb_path)
    assert switched.manifest.embedder.name == "hash:32" and switched.manifest.embedder.extra["tuned"]
    assert Manifest.read(kb_path).embedder.name == "hash:32"  # manifest.json follows
    np.testing.assert_allclose(_live_vectors(kb_path), new.embed(_texts(kb_path)), atol=1e-6)
    assert reader.manifest.embedder.name == "hash:64" and reader.vectors()[1].shape[1] == 64
    reader.close()
    reembed.rollback(switched, lambda s: load_embedder(s["name"]))
    assert KnowledgeBase.open(kb_path).manifest.embedder.name == "hash:64"
    np.testing.assert_allclose(_live_vectors(kb_path), before)


def test_staged_view_searches_the_staged_vectors_without_touching_the_live_ones(tmp_path: Path) -> None:
    kb_path = build_kb(tmp_path, EN)
    kb = KnowledgeBase.open(kb_path)
    new = HashEmbedder(32)
    reembed.stage(kb, new, new.spec())
    view = reembed.staged_view(kb, new.spec())
    assert view.dense().d == 32 and view.dense().ntotal == len(EN)
    assert view.vectors()[1].shape == (len(EN), 32) and view.manifest.embedder.name == "hash:32"
    view.close()
    assert KnowledgeBase.open(kb_path).manifest.embedder.name == "hash:64"


_KILLED_STAGE = """
import os, signal, sys
from ingest.store import reembed
from ingest.embed import HashEmbedder
from ingest.store import KnowledgeBase

class Dies(HashEmbedder):
    calls = 0
    def _embed_batch(self, texts):
        Dies.calls += 1
        if Dies.calls == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super()._embed_batch(texts)

reembed.STAGE_BATCH = 4
embedder = Dies(32)
reembed.stage(KnowledgeBase.open(sys.argv[1]), embedder, embedder.spec())
"""


def test_kill_9_while_staging_leaves_the_old_embedder_live_and_a_rerun_finishes(tmp_path: Path) -> None:
    from llmapp.retrieve import open_retriever
    from llmapp.settings import Settings

    kb_path = build_kb(tmp_path, {**ZH, **EN})
    total = len(_texts(kb_path))
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(_KILLED_STAGE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, str(script), str(kb_path)], env=env, cwd=tmp_path, check=False)
    assert result.returncode == -9
    kb = KnowledgeBase.open(kb_path)
    assert kb.manifest.embedder.name == "hash:64"
    assert reembed.pending(kb) == total - 2 * 4  # two batches committed before the kill
    settings = Settings(home=tmp_path / "home")
    with open_retriever(settings, str(kb_path)) as retriever:
        assert "Tomatoes" in retriever.search("tomatoes in sunny gardens", k=1)[0].text
    new = HashEmbedder(32)
    assert reembed.stage(kb, new, new.spec()) == total - 8
    reembed.switch(kb, new, new.spec())
    with open_retriever(settings, str(kb_path)) as retriever:
        assert retriever.embedder.name == "hash:32"
        assert "Tomatoes" in retriever.search("tomatoes in sunny gardens", k=1)[0].text
