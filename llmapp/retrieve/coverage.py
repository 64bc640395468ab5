"""How well the embedder covers each language of a knowledge base, measured on the knowledge base itself.

For a sample of 64 chunks in a language, a short passage cut from the middle of each chunk (16 characters of
Chinese, 10 words of English) is embedded as a query. An embedder that understands the language puts the probe
much closer to its own chunk than to the other sampled chunks; one that does not (an English-only model reading
Chinese maps every Chinese text to much the same place) does not. The measure is that margin, counted in
standard deviations of the probe's cosines with the other chunks, which depends neither on the size of the
knowledge base nor on where a model's cosines sit (MiniLM's unrelated texts score about 0.1, e5's about 0.8):

    margin   = mean over probes of (cos(probe, own chunk) - mean cos(probe, others)) / std cos(probe, others)
    coverage = clip((margin - FLOOR) / (CEILING - FLOOR), 0, 1)

Measured on 64 CMRC 2018 contexts and 64 SciFact abstracts (.venv/bin/python bench/probe_margins.py): MiniLM
1.83 on Chinese (its dense search fails real Chinese questions, nDCG@10 0.19) and 4.17 on English;
multilingual-e5-small 4.45 on Chinese and 4.13 on English. The raw cosine margin cannot tell these apart (e5's
is 0.06 in both languages, MiniLM's 0.13 in Chinese). The result is cached per knowledge base (its creation id),
version and embedder under Settings.home/cache/coverage, so it is paid once (one batch of 64 probe embeddings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from llmapp.language import LANGUAGES, Language, detect_language

log = logging.getLogger(__name__)

SAMPLE = 64
FLOOR = 2.5
CEILING = 3.5
_ZH_CHARS = 16
_EN_WORDS = 10


def probe(text: str, language: Language) -> str:
    """A short passage from the middle of a chunk: 16 characters of Chinese or 10 words of English."""
    if language == "zh":
        compact = "".join(text.split())
        middle = max(0, len(compact) // 2 - _ZH_CHARS // 2)
        return compact[middle : middle + _ZH_CHARS]
    words = text.split()
    middle = max(0, len(words) // 2 - _EN_WORDS // 2)
    return " ".join(words[middle : middle + _EN_WORDS])


def measure_margin(snapshot: Any, embedder: Any, language: Language, sample: int = SAMPLE) -> float | None:
    """Mean margin, over sampled chunks in `language`, between a probe's cosine with its own chunk and its mean
    cosine with the other sampled chunks, in standard deviations of the latter; None when the knowledge base
    has fewer than 8 such chunks."""
    texts = [(text, vector) for text, vector in snapshot.texts_with_vectors()
             if len(text) > 40 and detect_language(text) == language]
    if len(texts) < 8:
        return None
    chosen = random.Random(0).sample(texts, min(sample, len(texts)))
    probes = embedder.embed([probe(text, language) for text, _ in chosen], role="query")
    chunks = np.stack([vector for _, vector in chosen])
    return standardized_margin(probes @ chunks.T)


def standardized_margin(similarity: np.ndarray) -> float:
    """Mean over rows of (own - mean of others) / std of others, for a square (probes, chunks) cosine matrix
    whose row i's own chunk is column i. A row whose others are all equal counts its raw margin over 1e-6."""
    own = np.diag(similarity)
    others = similarity[~np.eye(len(own), dtype=bool)].reshape(len(own), -1)
    spread = np.maximum(others.std(axis=1), 1e-6)
    return float(np.mean((own - others.mean(axis=1)) / spread))


def coverage_from_margin(margin: float | None) -> float:
    if margin is None:
        return 1.0  # nothing to measure on: trust the embedder
    return float(np.clip((margin - FLOOR) / (CEILING - FLOOR), 0.0, 1.0))


def cache_prefix(identity: str) -> str:
    """The start of every coverage cache file of one knowledge base, so they can be dropped with it."""
    return hashlib.sha256(identity.encode()).hexdigest()[:12] + "-"


def forget_coverage(cache: Path, identity: str) -> None:
    for stale in cache.glob(cache_prefix(identity) + "*.json"):
        stale.unlink(missing_ok=True)


def kb_coverage(snapshot: Any, embedder: Any, cache: Path | None) -> dict[str, float]:
    """{language: coverage in [0, 1]} for this snapshot and embedder, from the cache when measured before."""
    identity = snapshot.manifest.identity  # not the path: a deleted and re-created knowledge base starts over
    # "v2": margins in standard deviations (an older cache held cosine margins)
    key = hashlib.sha256(f"v2|{identity}|{snapshot.version}|{embedder.name}".encode())
    cached = cache / f"{cache_prefix(identity)}{key.hexdigest()[:24]}.json" if cache else None
    if cached is not None and cached.is_file():
        try:
            return {str(k): float(v) for k, v in json.loads(cached.read_text(encoding="utf-8")).items()}
        except ValueError:
            log.warning("ignoring the damaged coverage cache %s", cached)
    margins = {language: measure_margin(snapshot, embedder, language) for language in LANGUAGES}
    coverage: dict[str, float] = {language: coverage_from_margin(m) for language, m in margins.items()}
    log.info("embedder %s coverage on %s: %s (probe margins %s)", embedder.name, snapshot.path, coverage, margins)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # a private temp name: two processes measuring the same KB must not write into one file
        fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=cached.stem, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(coverage))
        os.replace(tmp, cached)
    return coverage
