"""Incremental ingest: add, update, prune, dedup, bad files; crash states between commit and index files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ingest.embed import HashEmbedder
from ingest.errors import KnowledgeBaseError, KnowledgeBaseLocked
from ingest.pipeline import IngestOptions, ingest
from ingest.store import KnowledgeBase
from tests.support.ingest_assertions import assert_consistent, content

QUIET = IngestOptions(progress=False)
REFERENCES = "References: [1] Vaswani et al. Attention is all you need. [2] Devlin et al. BERT."


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("Cats sleep most of the day.\n\nThey hunt at night.\n\n" + REFERENCES)
    (root / "b.md").write_text("# Dogs\n\nDogs like long walks in the park.\n\n" + REFERENCES)
    (root / "c.txt").write_text("知识库可以增量更新。未修改的文件会被跳过。")
    return root


def run(kb: Path, docs: Path, **options: object) -> dict[str, object]:
    opts = IngestOptions(progress=False, **options)  # type: ignore[arg-type]
    return ingest(kb, [docs], HashEmbedder(32), opts).to_dict()


def test_first_ingest_adds_every_file_and_indexes_agree(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    report = run(tmp_path / "kb", docs)
    assert (report["files_added"], report["files_updated"], report["files_failed"]) == (3, 0, [])
    assert report["chunks_added"] == assert_consistent(tmp_path / "kb") > 0


def test_unchanged_reingest_embeds_nothing(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    run(tmp_path / "kb", docs)
    before = content(tmp_path / "kb")
    report = run(tmp_path / "kb", docs)
    assert report["files_unchanged"] == 3
    assert (report["texts_embedded"], report["chunks_added"], report["chunks_removed"]) == (0, 0, 0)
    assert content(tmp_path / "kb") == before


def test_touched_but_identical_file_is_unchanged(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    run(tmp_path / "kb", docs)
    later = time.time() + 10
    os.utime(docs / "a.txt", (later, later))
    report = run(tmp_path / "kb", docs)
    assert (report["files_unchanged"], report["texts_embedded"]) == (3, 0)


def test_changed_file_replaces_exactly_its_chunks(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    kb = tmp_path / "kb"
    run(kb, docs)
    others = [row for row in content(kb) if not row[0].endswith("a.txt")]
    (docs / "a.txt").write_text("Cats sleep most of the day.\n\nThey are fed at noon.\n\n" + REFERENCES)
    report = run(kb, docs)
    assert (report["files_updated"], report["files_unchanged"]) == (1, 2)
    after = content(kb)
    assert [row for row in after if not row[0].endswith("a.txt")] == others
    assert any("fed at noon" in row[3] for row in after)
    assert not any("hunt at night" in row[3] for row in after)
    assert_consistent(kb)


def test_identical_chunk_texts_are_embedded_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"copy{i}.txt").write_text(REFERENCES)
    report = run(tmp_path / "kb", docs)
    assert report["chunks_added"] == 5
    assert report["texts_embedded"] == 1
    with KnowledgeBase.open(tmp_path / "kb").snapshot() as snap:
        assert snap.stats()["unique_texts"] == 1


def test_prune_removes_documents_of_deleted_files(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    kb = tmp_path / "kb"
    run(kb, docs)
    (docs / "b.md").unlink()
    assert run(kb, docs)["files_removed"] == 0  # without --prune, nothing is forgotten
    report = run(kb, docs, prune=True)
    assert report["files_removed"] == 1 and report["chunks_removed"] > 0
    assert not any(row[0].endswith("b.md") for row in content(kb))
    assert_consistent(kb)


def test_bad_files_are_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    os.symlink(docs / "missing.txt", docs / "dangling.txt")
    report = run(tmp_path / "kb", docs)
    failed = {Path(f["path"]).name for f in report["files_failed"]}  # type: ignore[union-attr]
    assert failed == {"empty.txt", "binary.txt", "broken.pdf", "dangling.txt"}
    assert report["files_added"] == 3


def test_other_embedder_is_refused(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    run(tmp_path / "kb", docs)
    with pytest.raises(KnowledgeBaseError, match="embedder"):
        ingest(tmp_path / "kb", [docs], HashEmbedder(16), QUIET)


def test_other_chunking_is_refused(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    run(tmp_path / "kb", docs)
    with pytest.raises(KnowledgeBaseError, match="max_tokens"):
        run(tmp_path / "kb", docs, chunk_tokens=40)


def test_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    run(tmp_path / "kb", docs)
    base = KnowledgeBase.open(tmp_path / "kb")
    with base.writer(), pytest.raises(KnowledgeBaseLocked, match="pid"):
        run(tmp_path / "kb", docs)


def test_crash_between_commit_and_index_files(tmp_path: Path) -> None:
    """The state a kill -9 leaves after the docstore commit but before the index renames."""
    docs = write_corpus(tmp_path / "docs")
    kb = tmp_path / "kb"
    run(kb, docs)
    (docs / "a.txt").write_text("Completely new text about parrots.")
    base = KnowledgeBase.open(kb)
    with base.writer() as writer:  # replay the pipeline's commit, then "die"
        from ingest.chunk import ChunkOptions
        from ingest.pipeline import IngestReport as Report
        from ingest.pipeline import _embed_missing, _plan_file

        chunking = ChunkOptions(**base.manifest.chunking.to_dict())
        item = _plan_file(writer, docs / "a.txt", writer.files(), chunking, HashEmbedder(32), QUIET, Report())
        assert item is not None
        _embed_missing(writer, [item], HashEmbedder(32), QUIET)
        writer.commit([item.change])
    # Readers see the committed version, with indexes rebuilt from the docstore in memory.
    assert any("parrots" in row[3] for row in content(kb))
    assert_consistent(kb)
    # The next ingest repairs the files on disk.
    report = run(kb, docs)
    assert report["files_unchanged"] == 3
    with base.writer() as writer:
        assert writer.indexes_current()
    assert_consistent(kb)
