"""The lexical (BM25) index of a knowledge base.

Tokens: runs of CJK characters are segmented with jieba (search mode, so both words and their parts match);
Latin words are lower-cased, Snowball-stemmed and stripped of a few stop words. Scores are precomputed per
(chunk, term) at build time ("eager" BM25, as bm25s does), so a query is a sum of a few sparse columns.
Saved as one .npz file of plain arrays: loading never unpickles.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from llmcommon.cjk import IDEOGRAPH, IDEOGRAPHS

TOKENIZER_VERSION = "jieba-search+snowball-en/1"

_TOKEN_RUN = re.compile(rf"[{IDEOGRAPHS}]+|[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_EN_STOP = frozenset(
    "a an and are as at be but by for from has have in into is it its of on or that the their this to was "
    "were will with what which who how when where why do does did can".split()
)
_ZH_STOP = frozenset("的 了 和 是 在 也 就 都 而 及 与 或 之 其 这 那 有 为 对 等 中 把 被 让 吗 呢 吧 啊".split())


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def segment(text: str) -> list[str]:
    """jieba's words of a Chinese text, in order (precise mode: each character in one word)."""
    return [word for word in _jieba().lcut(text) if word.strip()]


def tokenize(text: str) -> list[str]:
    """BM25 tokens of a text in any mix of Chinese and English."""
    tokens: list[str] = []
    stem = _stemmer().stemWord
    for match in _TOKEN_RUN.finditer(text):
        run = match.group()
        if IDEOGRAPH.match(run):
            tokens.extend(t for t in _jieba().cut_for_search(run) if t.strip() and t not in _ZH_STOP)
        else:
            word = run.lower()
            if word not in _EN_STOP:
                tokens.append(stem(word))
    return tokens


@dataclass
class LexicalIndex:
    """Eager BM25 over chunks. `weights` is a CSC matrix (chunks x vocabulary) of per-term BM25 scores."""

    chunk_ids: np.ndarray  # int64, row -> chunk id
    vocabulary: dict[str, int]
    weights: Any  # scipy.sparse.csc_matrix, float32

    @classmethod
    def build(
        cls, chunk_ids: Sequence[int] | np.ndarray, token_lists: Iterable[Sequence[str]],
        k1: float = 1.2, b: float = 0.75,
    ) -> LexicalIndex:
        from scipy import sparse

        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        lengths: list[int] = []
        for row, tokens in enumerate(token_lists):
            lengths.append(len(tokens))
            for token in tokens:
                rows.append(row)
                cols.append(vocabulary.setdefault(token, len(vocabulary)))
        n_docs = len(lengths)
        tf = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_docs, len(vocabulary))
        )
        tf.sum_duplicates()
        doc_len = np.asarray(lengths, dtype=np.float32)
        avg_len = float(doc_len.mean()) if n_docs else 1.0
        df = np.bincount(tf.indices, minlength=len(vocabulary)).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))  # Lucene's non-negative idf
        norm = k1 * (1.0 - b + b * doc_len / max(avg_len, 1e-9))
        row_of = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        freq = tf.data
        tf.data = (idf[tf.indices] * freq * (k1 + 1.0) / (freq + norm[row_of])).astype(np.float32)
        return cls(np.asarray(chunk_ids, dtype=np.int64), vocabulary, tf.tocsc())

    def __len__(self) -> int:
        return int(self.chunk_ids.shape[0])

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and BM25 scores of the k best chunks sharing a term with `query` (scores > 0 only).
        `allowed`, a boolean mask over rows, restricts the search before ranking."""
        columns = sorted({self.vocabulary[t] for t in tokenize(query) if t in self.vocabulary})
        if not columns or len(self) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores = np.asarray(self.weights[:, columns].sum(axis=1)).ravel()
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if candidates.size > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        best = candidates[np.argsort(-scores[candidates], kind="stable")]
        return self.chunk_ids[best], scores[best].astype(np.float32)

    def to_bytes(self) -> bytes:
        """The index as an .npz payload of plain arrays."""
        csc = self.weights
        terms = np.array(sorted(self.vocabulary, key=self.vocabulary.__getitem__), dtype=np.str_)
        buffer = io.BytesIO()
        np.savez(
            buffer, chunk_ids=self.chunk_ids, terms=terms, data=csc.data, indices=csc.indices,
            indptr=csc.indptr, shape=np.asarray(csc.shape, dtype=np.int64), version=np.array(TOKENIZER_VERSION),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> LexicalIndex:
        from scipy import sparse

        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            shape = tuple(int(x) for x in arrays["shape"])
            weights = sparse.csc_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
            vocabulary = {str(term): i for i, term in enumerate(arrays["terms"])}
            return cls(arrays["chunk_ids"], vocabulary, weights)
