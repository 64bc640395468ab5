"""`ingest()`: files in, an up-to-date knowledge base out, incrementally and crash-safely.

    discover files -> skip the unchanged (size+mtime, then sha256) -> load + chunk the new and changed ->
    embed only chunk texts the knowledge base has never seen (stored as they are embedded, so a re-run after a
    crash resumes) -> one transaction replaces exactly the changed files' chunks -> index files rewritten.

A big file is committed in bounded batches: its embedded texts are stored EMBED_GROUP at a time, each group its
own transaction, in a table readers never look at; its chunks become visible in the one final transaction.
So kill -9 in the middle of a 5,000-row JSONL loses at most one group, a re-run embeds only the rest, readers
keep seeing the previous version of the file (or none) until it is complete, and the result is the same as a
clean run's: passages are embedded in batches of a fixed shape (`ingest.shapes`), so a vector does not depend
on which texts shared its batch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunk import ChunkOptions, chunk_document
from ingest.documents import Document
from ingest.embed import DEFAULT_BATCH_SIZE, Embedder
from ingest.errors import IngestError, KnowledgeBaseError, LoadError
from ingest.lexical import tokenize
from ingest.loaders import LoadOptions, discover, load_file
from ingest.loaders.isolated import Sandbox, load_isolated
from ingest.ray_embed import EmbedEngine
from ingest.store import ChunkingSpec, EmbedderSpec, FileChange, Manifest, NewDocument
from ingest.store.backend import StoreWriter, create_store, open_store, store_exists
from ingest.store.dense_index import DensePolicy
from llmcommon.hashing import file_sha256

log = logging.getLogger(__name__)

# Embedded texts are written to the docstore in groups of this size: the unit of work a crash can lose.
EMBED_GROUP = 512
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class IngestOptions:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    prune: bool = False
    chunk_tokens: int | None = None  # None: the embedder's window
    chunk_overlap: int | None = None  # None: 32 for a new knowledge base, else what it was built with
    batch_size: int = DEFAULT_BATCH_SIZE
    load: LoadOptions = field(default_factory=LoadOptions)
    sandbox: Sandbox | None = None  # set: each file is read in a child process with these limits (uploads)
    progress: bool = True
    dense: DensePolicy = field(default_factory=DensePolicy)  # when the dense index turns approximate
    engine: EmbedEngine | None = None  # where chunk texts are embedded; None: here (ingest.ray_embed: on Ray)


@dataclass
class IngestReport:
    """The `--json` summary of an ingest."""

    files_added: int = 0
    files_updated: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: list[dict[str, Any]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    texts_embedded: int = 0
    seconds: float = 0.0

    @property
    def ingested_anything(self) -> bool:
        return bool(self.files_added or self.files_updated or self.files_unchanged or self.files_removed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Loaded:
    change: FileChange
    is_new: bool
    texts: dict[str, tuple[str, int]]  # sha256 -> (text, n_tokens)


def ingest(
    kb_path: Path | str, paths: Sequence[Path | str], embedder: Embedder, options: IngestOptions = IngestOptions()
) -> IngestReport:
    """Bring the knowledge base at `kb_path` (a folder, or a `milvus://HOST:PORT/NAME` URI) up to date with
    `paths` (files and folders)."""
    started = time.perf_counter()
    report = IngestReport()
    if store_exists(kb_path):
        kb = open_store(kb_path)
        kb.manifest.check_embedder(EmbedderSpec.from_dict(embedder.spec()), kb_path)
    else:
        kb = create_store(kb_path, _manifest_for(embedder, options))
    chunking = _chunk_options(kb.manifest, options, kb_path)
    with kb.writer(options.dense) as writer:
        found = discover(paths, options.include, options.exclude)
        report.files_failed += [e.to_dict() for e in found.errors]
        known = writer.files()
        loaded: list[_Loaded] = []
        for path in _progress(found.files, options.progress, "reading", "file"):
            item = _plan_file(writer, path, known, chunking, embedder, options, report)
            if item is not None:
                loaded.append(item)
        report.texts_embedded = _embed_missing(writer, loaded, embedder, options)
        changes = [item.change for item in loaded]
        if options.prune:
            gone = [p for p in known if not os.path.exists(p)]
            changes += [FileChange(path=p) for p in gone]
            report.files_removed = len(gone)
        if changes:
            added, removed = writer.commit(changes)
            report.chunks_added, report.chunks_removed = len(added), len(removed)
            writer.sync_indexes(added, removed)
        elif not writer.indexes_current():
            writer.sync_indexes()  # a previous run died between its commit and its index files: repair
        report.files_added = sum(1 for item in loaded if item.is_new)
        report.files_updated = len(loaded) - report.files_added
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _manifest_for(embedder: Embedder, options: IngestOptions) -> Manifest:
    max_tokens = options.chunk_tokens or embedder.max_tokens
    if max_tokens > embedder.max_tokens:
        raise KnowledgeBaseError(
            f"chunk budget {max_tokens} tokens exceeds the embedder's window of {embedder.max_tokens}: "
            "longer chunks would be silently truncated. Use --chunk-tokens <= the window."
        )
    overlap = min(DEFAULT_OVERLAP, max_tokens // 4) if options.chunk_overlap is None else options.chunk_overlap
    return Manifest(embedder=EmbedderSpec.from_dict(embedder.spec()), chunking=ChunkingSpec(max_tokens, overlap))


def _chunk_options(manifest: Manifest, options: IngestOptions, kb: Path | str) -> ChunkOptions:
    """The knowledge base's chunking settings; asking for others on an existing knowledge base is an error."""
    stored = manifest.chunking
    overlap = stored.overlap_tokens if options.chunk_overlap is None else options.chunk_overlap
    wanted = ChunkingSpec(options.chunk_tokens or stored.max_tokens, overlap)
    if wanted != stored:
        raise KnowledgeBaseError(
            f"{kb} chunks with max_tokens={stored.max_tokens}, overlap_tokens={stored.overlap_tokens}; "
            f"asked for {wanted.max_tokens}/{wanted.overlap_tokens}. Re-chunking needs a new knowledge base."
        )
    try:
        return ChunkOptions(max_tokens=stored.max_tokens, overlap_tokens=stored.overlap_tokens)
    except ValueError as exc:
        raise IngestError(f"bad chunking settings: {exc}") from exc


def _plan_file(
    writer: StoreWriter, path: Path, known: dict[str, tuple[str, int, int]], chunking: ChunkOptions,
    embedder: Embedder, options: IngestOptions, report: IngestReport,
) -> _Loaded | None:
    """None when the file is unchanged or failed (both recorded in the report); else its new content."""
    key = str(path)
    try:
        stat = path.stat()
        previous = known.get(key)
        if previous and (previous[1], previous[2]) == (stat.st_size, stat.st_mtime_ns):
            report.files_unchanged += 1
            return None
        sha = file_sha256(path)
        if previous and previous[0] == sha:
            writer.touch(key, stat.st_size, stat.st_mtime_ns)
            report.files_unchanged += 1
            return None
        result = load_isolated(path, options.load, options.sandbox) if options.sandbox else \
            load_file(path, options.load)
    except LoadError as exc:
        report.files_failed.append(exc.to_dict())
        return None
    except OSError as exc:
        report.files_failed.append({"path": key, "error": exc.strerror or str(exc)})
        return None
    report.files_failed += [e.to_dict() for e in result.errors]
    if not result.documents:
        report.files_failed.append({"path": key, "error": "no text found"})
        return None
    texts: dict[str, tuple[str, int]] = {}
    documents = [_chunked(doc, chunking, embedder, texts) for doc in result.documents]
    change = FileChange(key, sha, stat.st_size, stat.st_mtime_ns, documents)
    return _Loaded(change, previous is None, texts)


def _chunked(
    doc: Document, chunking: ChunkOptions, embedder: Embedder, texts: dict[str, tuple[str, int]]
) -> NewDocument:
    rows = []
    for chunk in chunk_document(doc, embedder.token_offsets, chunking):
        sha = hashlib.sha256(chunk.text.encode("utf-8")).hexdigest()
        texts[sha] = (chunk.text, chunk.n_tokens)
        rows.append((sha, chunk.ordinal, chunk.start, chunk.end, chunk.n_tokens, chunk.metadata))
    metadata = dict(doc.metadata)
    return NewDocument(doc.doc_id, doc.title, metadata, len(doc.text), rows)


def _embed_missing(writer: StoreWriter, loaded: list[_Loaded], embedder: Embedder, options: IngestOptions) -> int:
    """Embed the chunk texts the docstore lacks, shortest first, storing each group as soon as it is done."""
    pending: dict[str, tuple[str, int]] = {}
    for item in loaded:
        pending.update(item.texts)
    # by length, then hash: an order that depends on the texts only (a set's order changes with the process)
    missing = sorted(set(pending) - writer.known_texts(pending), key=lambda sha: (pending[sha][1], sha))
    groups = [missing[begin : begin + EMBED_GROUP] for begin in range(0, len(missing), EMBED_GROUP)]
    texts = [[pending[sha][0] for sha in group] for group in groups]
    bar = _bar(len(missing), options.progress, "embedding", "chunk")
    engine = options.engine or embed_here
    for group, group_texts, vectors in zip(groups, texts, engine(embedder, texts, options.batch_size, bar.update),
                                           strict=True):
        rows = zip(group, group_texts, vectors, strict=True)
        writer.add_texts([(sha, text, tokenize(text), vec) for sha, text, vec in rows])
    bar.close()
    return len(missing)


def embed_here(embedder: Embedder, groups: Sequence[list[str]], batch_size: int,
               progress: Callable[[int], None]) -> Iterator[np.ndarray]:
    """The local engine: each group embedded in this process."""
    for texts in groups:
        yield embedder.embed(texts, batch_size=batch_size, progress=progress)


def _progress(items: Sequence[Path], enabled: bool, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, disable=not enabled, leave=False)


def _bar(total: int, enabled: bool, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled or total == 0, leave=False)

