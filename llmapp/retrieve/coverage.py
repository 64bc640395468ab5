"""How well the embedder covers each language of a knowledge base, measured on the knowledge base itself.

For a sample of chunks in a language, a short passage cut from the middle of each chunk is used as a query;
coverage is how often dense search ranks that chunk first (hit@1), rescaled so that an embedder no better
than chance at this easy task gets 0 and one that solves it gets 1:

    coverage = clip((hit@1 - FLOOR) / (CEILING - FLOOR), 0, 1)

Measured values (docs/retrieval.md): all-MiniLM-L6-v2 reaches hit@1 of about 0.95 on English chunks
(SciFact) and about 0.4 on Chinese ones (CMRC 2018), where its real questions fail. The result is cached per
knowledge base version and embedder under Settings.home/cache/coverage, so it is paid once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np

from llmapp.language import LANGUAGES, Language, detect_language

log = logging.getLogger(__name__)

SAMPLE = 64
FLOOR = 0.5
CEILING = 0.9
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


def measure_hit_rate(snapshot: Any, embedder: Any, language: Language, sample: int = SAMPLE) -> float | None:
    """Dense hit@1 of chunk probes in `language`, or None when the knowledge base has too few such chunks."""
    rows = snapshot.sql("SELECT c.id, c.text_id, t.text FROM chunks c JOIN texts t ON t.id = c.text_id ORDER BY c.id")
    text_of = {cid: text_id for cid, text_id, _ in rows}
    texts = {text_id: text for _, text_id, text in rows if detect_language(text) == language and len(text) > 40}
    if len(texts) < 8:
        return None
    chosen = random.Random(0).sample(sorted(texts.items()), min(sample, len(texts)))
    vectors = embedder.embed([probe(text, language) for _, text in chosen])
    _, ids = snapshot.dense().search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    # A hit is the probe's own text (stored once, it may belong to several chunks).
    return float(np.mean([text_of.get(int(ids[i, 0])) == text_id for i, (text_id, _) in enumerate(chosen)]))


def coverage_from_hit_rate(hit_rate: float | None) -> float:
    if hit_rate is None:
        return 1.0  # nothing to measure on: trust the embedder
    return float(np.clip((hit_rate - FLOOR) / (CEILING - FLOOR), 0.0, 1.0))


def kb_coverage(snapshot: Any, embedder: Any, cache: Path | None) -> dict[str, float]:
    """{language: coverage in [0, 1]} for this snapshot and embedder, from the cache when measured before."""
    key = hashlib.sha256(f"{Path(snapshot.path).resolve()}|{snapshot.version}|{embedder.name}".encode())
    cached = cache / f"{key.hexdigest()[:24]}.json" if cache else None
    if cached is not None and cached.is_file():
        try:
            return {str(k): float(v) for k, v in json.loads(cached.read_text(encoding="utf-8")).items()}
        except ValueError:
            log.warning("ignoring the damaged coverage cache %s", cached)
    rates = {language: measure_hit_rate(snapshot, embedder, language) for language in LANGUAGES}
    coverage: dict[str, float] = {language: coverage_from_hit_rate(rate) for language, rate in rates.items()}
    log.info("embedder %s coverage on %s: %s (hit@1 of chunk probes %s)", embedder.name, snapshot.path,
             coverage, rates)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(coverage), encoding="utf-8")
        tmp.replace(cached)
    return coverage
