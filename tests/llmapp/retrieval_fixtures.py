"""Small knowledge bases built through the real ingest pipeline, shared by the retrieval tests."""

from __future__ import annotations

from pathlib import Path

from ingest.embed import Embedder, HashEmbedder
from ingest.pipeline import IngestOptions, ingest

DOCS = {
    "guide/install.md": "# Install\n\nInstall llmapp with pip. The wheel needs Python 3.10 or newer.\n",
    "guide/search.md": "# Search\n\nHybrid search fuses BM25 and dense vectors into one ranked list.\n",
    "notes/cats.txt": "Cats sleep most of the day and hunt at dusk.\n",
    "notes/zh.txt": "熊猫主要以竹子为食，生活在四川的山区。\n\n长城是中国古代的军事防御工程。\n",
    "notes/copy.txt": "Cats sleep most of the day and hunt at dusk.\n",
}


def build_kb(root: Path, docs: dict[str, str] | None = None, embedder: Embedder | None = None,
             chunk_tokens: int | None = None) -> Path:
    folder = root / "docs"
    for name, text in (docs or DOCS).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    kb = root / "kb"
    options = IngestOptions(progress=False, chunk_tokens=chunk_tokens, chunk_overlap=0 if chunk_tokens else None)
    ingest(kb, [folder], embedder or HashEmbedder(64), options)
    return kb
