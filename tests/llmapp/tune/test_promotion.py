"""The gate on hand-made cases: a worse embedder is not promoted (the knowledge base is unchanged); a better
one is promoted into a new version that records the gate, and --rollback returns to the previous embedder.

"Better" is made by hand: each document carries a unique pair of symbols that BM25 never indexes but the hash
embedder's tokens do, and the questions are those symbols. The random tiny BERT cannot find them; the hash
embedder finds every one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.embed import HashEmbedder, SentenceTransformerEmbedder
from ingest.store import KnowledgeBase, Manifest
from llmapp.settings import Settings
from llmapp.tune.gate import Judged
from llmapp.tune.loop import TuneOptions, TuneReport, gate_and_promote, rollback
from tests.support.retrieval_fixtures import build_kb

SYMBOLS = "☂♞☯♫✈⚓☀❄♛✂☎⌛⚡♻✿☘⚽☕"
TOPICS = ["Tomatoes grow best in sunny gardens with regular watering and rich soil",
          "Garbage collection trucks come by on Tuesday mornings before eight",
          "Interest rates at the central bank were raised by a quarter point",
          "The automobile engine fails to ignite when the battery is flat",
          "Cats sleep most of the day and hunt mice at dusk in the barn",
          "The library opens at nine and lends books for three weeks at most",
          "Mountain trails close in winter when snow covers the upper paths",
          "The orchestra rehearses the symphony every Thursday evening in the hall",
          "Fresh bread is baked before dawn and sold out by noon on weekdays"]


def _docs() -> dict[str, str]:
    return {f"d{i}.txt": f"{topic} {SYMBOLS[2 * i]}{SYMBOLS[2 * i + 1]}." for i, topic in enumerate(TOPICS)}


def _symbol_questions(kb: Path) -> Judged:
    with KnowledgeBase.open(kb).snapshot() as snap:
        records = snap.chunks(snap.chunk_ids()).values()
        docs = {Path(r.source).name: f"{r.source}#{r.doc_id}" for r in records}
    queries = [f"{SYMBOLS[2 * i]} {SYMBOLS[2 * i + 1]}" for i in range(len(TOPICS))]
    return Judged("your questions", queries, [{docs[f"d{i}.txt"]: 1} for i in range(len(TOPICS))])


def _gate(settings: Settings, kb: Path, tuned: Any) -> TuneReport:
    spec = {**tuned.spec(), "tuned": {"base_model": "test", "run_dir": None, "adapter": None}}
    return gate_and_promote(settings, str(kb), TuneOptions(margin=0.05), TuneReport(kb=str(kb)), tuned, spec,
                            [_symbol_questions(kb)])


def test_a_worse_embedder_is_not_promoted_and_the_knowledge_base_is_unchanged(tiny_encoder: Path,
                                                                               tmp_path: Path) -> None:
    kb = build_kb(tmp_path, _docs(), embedder=HashEmbedder(64))
    version = KnowledgeBase.open(kb).version()
    report = _gate(Settings(home=tmp_path / "home"), kb, SentenceTransformerEmbedder(tiny_encoder))
    assert not report.promoted and report.reason.startswith("kept the embedder")
    assert report.gate["sets"]["your questions"]["ndcg@10_gain"] < 0
    assert KnowledgeBase.open(kb).version() == version
    assert KnowledgeBase.open(kb).manifest.embedder.name == "hash:64"


def test_a_better_embedder_is_promoted_into_a_new_version_and_rolled_back(tiny_encoder: Path,
                                                                          tmp_path: Path) -> None:
    from llmapp.retrieve import open_retriever

    settings = Settings(home=tmp_path / "home")
    kb = build_kb(tmp_path, _docs(), embedder=SentenceTransformerEmbedder(tiny_encoder))
    version = KnowledgeBase.open(kb).version()
    report = _gate(settings, kb, HashEmbedder(64))
    assert report.promoted and report.reason.startswith("promoted") and report.version == version + 1
    recorded = Manifest.read(kb).embedder
    assert recorded.name == "hash:64" and recorded.extra["tuned"]["gate"]["promote"] is True
    with open_retriever(settings, str(kb)) as retriever:
        assert retriever.search("☯ ♫", k=1)[0].text.startswith("Garbage collection")
    assert rollback(settings, str(kb)) == version + 2
    assert KnowledgeBase.open(kb).manifest.embedder.name == str(tiny_encoder.resolve())


def test_a_retriever_opened_across_a_switch_uses_the_embedder_of_its_snapshot(tiny_encoder: Path,
                                                                              tmp_path: Path) -> None:
    """`kb tune` may switch the embedder between KnowledgeBase.open and the retriever's snapshot: a loader gets
    the snapshot's embedder; an embedder object of the old one is refused, never mixed with the new vectors."""
    from ingest.store import reembed
    from llmapp.errors import ConfigError
    from llmapp.retrieve import build_retriever

    kb = build_kb(tmp_path, _docs(), embedder=HashEmbedder(64))
    opened = KnowledgeBase.open(kb)  # a reader opens the knowledge base ...
    tuned = SentenceTransformerEmbedder(tiny_encoder)
    store = KnowledgeBase.open(kb)
    reembed.stage(store, tuned, tuned.spec())
    reembed.switch(store, tuned, tuned.spec())  # ... and the embedder is switched before its snapshot
    loaded: list[str] = []

    def loader(name: str) -> Any:
        loaded.append(name)
        return tuned if name == tuned.name else HashEmbedder(64)

    retriever = build_retriever(opened, loader, mode="dense")
    assert loaded == [tuned.name] and retriever.search("gardens", k=3)
    with pytest.raises(ConfigError, match="switched its embedder"):  # an embedder object of the old version
        build_retriever(opened, HashEmbedder(64), mode="dense")
