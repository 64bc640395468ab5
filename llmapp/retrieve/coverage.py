"""How well the embedder covers each language of a knowledge base, measured on the knowledge base itself.

For a sample of 64 chunks in a language, a short passage cut from the middle of each chunk (16 characters of
Chinese, 10 words of English) is embedded as a query. An embedder that understands the language puts the probe
much closer to its own chunk than to the other sampled chunks; one that does not (an English-only model reading
Chinese maps every Chinese text to much the same place) does not. The margin is counted in standard deviations
of the probe's cosines with the other chunks, which does not depend on where a model's cosines sit (MiniLM's
unrelated texts score about 0.1, e5's about 0.8).

How large a margin a reading embedder reaches depends on the knowledge base, though: on CMRC 2018's 256
passages about unrelated subjects multilingual-e5-small's Chinese margin is 3.5, on five articles about the
same field (the seed corpus) 2.1, less than an absolute floor calibrated on CMRC allowed, which switched dense
search off for every question there. So the margin is read against the same probes matched by their words (a
bag of words and Chinese characters and character pairs, IDF-weighted over the sample): how distinctive a probe
is in this knowledge base. An embedder that reads the language keeps a good share of that distinctiveness;
a blind one keeps almost none:

    margin   = median over probes of (cos(probe, own) - mean cos(probe, others)) / std cos(probe, others)
    relative = margin(embedder) / margin(bag of words)
    coverage = clip((relative - FLOOR) / (CEILING - FLOOR), 0, 1)

Measured (`python -P bench/probe_margins.py KB...`, chunks as ingested, each embedder re-embedding them): MiniLM
on Chinese 0.03 (CMRC 2018), 0.05-0.08 (the seed articles, chunked for e5 or for MiniLM), 0.06 (the tests'
fixture); multilingual-e5-small on Chinese 0.14, 0.18-0.21, 0.16; on English (SciFact) e5 0.18, MiniLM 0.20.
The result is cached per knowledge base (its creation id), version and embedder under
Settings.home/cache/coverage, so it is paid once (one batch of 64 probe embeddings).
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
from llmcommon.cjk import is_ideograph, terms

log = logging.getLogger(__name__)

SAMPLE = 64
FLOOR = 0.08
CEILING = 0.12
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
    """The embedder's probe margin over sampled chunks in `language` divided by the bag of words' margin on the
    same probes (see the module docstring); None when the knowledge base has fewer than 8 such chunks."""
    texts = [(text, vector) for text, vector in snapshot.texts_with_vectors()
             if len(text) > 40 and detect_language(text) == language]
    if len(texts) < 8:
        return None
    chosen = random.Random(0).sample(texts, min(sample, len(texts)))
    probes = [probe(text, language) for text, _ in chosen]
    similarity = embedder.embed(probes, role="query") @ np.stack([vector for _, vector in chosen]).T
    return relative_margin(standardized_margin(similarity), lexical_margin(probes, [text for text, _ in chosen]))


def relative_margin(margin: float, lexical: float) -> float:
    """The embedder's margin as a share of the bag of words' (which is well above 1 whenever probes can be told
    apart at all; below that nothing can be measured, so the embedder is trusted)."""
    return margin / lexical if lexical > 1.0 else CEILING


def lexical_margin(probes: list[str], chunks: list[str]) -> float:
    """The standardized margin of the probes matched to their chunks by words: English words, Chinese
    characters and adjacent character pairs, weighted by IDF over `chunks`, cosine of the count vectors."""
    bags = [_bag(text) for text in chunks]
    vocabulary = {term: i for i, term in enumerate({term for bag in bags for term in bag})}
    frequency = np.zeros(len(vocabulary))
    for bag in bags:
        frequency[[vocabulary[term] for term in bag]] += 1
    idf = np.log(1.0 + len(chunks) / np.maximum(frequency, 1.0))

    def vectors(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(vocabulary)))
        for row, text in enumerate(texts):
            for term, count in _bag(text).items():
                if term in vocabulary:
                    out[row, vocabulary[term]] = count
        out *= idf
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    return standardized_margin(vectors(probes) @ vectors(chunks).T)


def _bag(text: str) -> dict[str, int]:
    found = terms(text)
    pairs = [a + b for a, b in zip(found, found[1:], strict=False) if is_ideograph(a) and is_ideograph(b)]
    counts: dict[str, int] = {}
    for term in found + pairs:
        counts[term] = counts.get(term, 0) + 1
    return counts


def standardized_margin(similarity: np.ndarray) -> float:
    """Median over rows of (own - mean of others) / std of others, for a square (probes, chunks) cosine matrix
    whose row i's own chunk is column i. The median, not the mean: a probe sharing no word with any other chunk
    has others all 0 for the bag of words, and its margin over their ~0 spread would outweigh all the rest."""
    own = np.diag(similarity)
    others = similarity[~np.eye(len(own), dtype=bool)].reshape(len(own), -1)
    spread = np.maximum(others.std(axis=1), 1e-6)
    return float(np.median((own - others.mean(axis=1)) / spread))


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
    # "v3": margins relative to the bag of words' (v2 held absolute ones, v1 cosine margins)
    key = hashlib.sha256(f"v3|{identity}|{snapshot.version}|{embedder.name}".encode())
    cached = cache / f"{cache_prefix(identity)}{key.hexdigest()[:24]}.json" if cache else None
    if cached is not None and cached.is_file():
        try:
            return {str(k): float(v) for k, v in json.loads(cached.read_text(encoding="utf-8")).items()}
        except ValueError:
            log.warning("ignoring the damaged coverage cache %s", cached)
    margins = {language: measure_margin(snapshot, embedder, language) for language in LANGUAGES}
    coverage: dict[str, float] = {language: coverage_from_margin(m) for language, m in margins.items()}
    log.info("embedder %s coverage on %s: %s (relative probe margins %s)", embedder.name, snapshot.path, coverage,
             margins)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # a private temp name: two processes measuring the same KB must not write into one file
        fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=cached.stem, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(coverage))
        os.replace(tmp, cached)
    return coverage
