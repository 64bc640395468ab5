"""The store's typed API: manifests read as typed specs (old files unchanged), snapshot methods instead of SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.embed import HashEmbedder
from ingest.errors import KnowledgeBaseError
from ingest.pipeline import IngestOptions, ingest
from ingest.store import ChunkFilter, ChunkingSpec, EmbedderSpec, KnowledgeBase, Manifest

# A manifest.json exactly as the dict-based store wrote it, with a key this version does not know.
OLD_MANIFEST = {
    "embedder": {"name": "minilm", "path": "/models/minilm", "dimension": 384, "normalized": True, "pooling": "mean"},
    "chunking": {"max_tokens": 256, "overlap_tokens": 32},
    "lexical": {"tokenizer": "jieba-search+snowball-en/1"},
    "schema_version": 1,
    "created_at": 1700000000.5,
}


def test_an_existing_manifest_reads_as_typed_specs_and_writes_back_unchanged(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(OLD_MANIFEST), encoding="utf-8")
    manifest = Manifest.read(tmp_path)
    assert manifest.embedder == EmbedderSpec("minilm", 384, "/models/minilm", True, {"pooling": "mean"})
    assert manifest.chunking == ChunkingSpec(max_tokens=256, overlap_tokens=32)
    manifest.write(tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / "manifest.json").read_text(encoding="utf-8")) == OLD_MANIFEST


def test_a_manifest_without_an_embedder_name_is_reported_as_damaged(tmp_path: Path) -> None:
    broken = {**OLD_MANIFEST, "embedder": {"dimension": 384}}
    (tmp_path / "manifest.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="damaged"):
        Manifest.read(tmp_path)


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# Cats\n\nCats purr.\n\n# Dogs\n\nDogs bark.\n", encoding="utf-8")
    (docs / "sub" / "b.txt").write_text("Grass is green.", encoding="utf-8")
    (docs / "c.txt").write_text("Grass is green.", encoding="utf-8")  # same text: stored once
    ingest(tmp_path / "kb", [docs], HashEmbedder(), IngestOptions(progress=False))
    return tmp_path / "kb"


def test_snapshot_lists_files_with_counts_and_filters_chunks(kb: Path) -> None:
    with KnowledgeBase.open(kb).snapshot() as snap:
        files = {Path(f.path).name: f for f in snap.files()}
        assert set(files) == {"a.md", "b.txt", "c.txt"} and files["b.txt"].documents == 1
        assert snap.file_paths() == sorted(f.path for f in files.values())
        everything = snap.chunk_ids()
        assert len(everything) == sum(f.chunks for f in files.values())
        in_sub = snap.chunk_ids(ChunkFilter(source="sub/*"))
        assert [snap.chunks(in_sub)[int(i)].source for i in in_sub] == [files["b.txt"].path]
        texts = snap.texts_with_vectors()
        assert len(texts) == len(everything) - 1 and all(v.shape == (64,) for _, v in texts)
