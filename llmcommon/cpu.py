"""CPU feature flags, read once from /proc/cpuinfo (empty where there is none, e.g. macOS or Windows)."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def cpu_flags() -> frozenset[str]:
    """The feature flags of the first CPU listed in /proc/cpuinfo; empty when it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    return parse_flags(text)


def parse_flags(cpuinfo: str) -> frozenset[str]:
    """The first `flags` (x86) or `Features` (ARM) line of a /proc/cpuinfo text, as a set."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_bf16() -> bool:
    """True on x86 CPUs with bfloat16 instructions (avx512_bf16 or AMX): bf16 is faster there, slower elsewhere."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_vnni() -> bool:
    """True on CPUs with VNNI, which multiply u8 x s8 without 16-bit saturation (full 8-bit int8 activations)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni"})


def cpu_has_amx() -> bool:
    """True on x86 CPUs with AMX tiles (Sapphire Rapids and later)."""
    return bool(cpu_flags() & {"amx_tile", "amx_int8", "amx_bf16"})
