"""CPU feature flags, read once from /proc/cpuinfo (empty where there is none, e.g. macOS or Windows), and
whether bfloat16 arithmetic is actually faster than float32 on this CPU, measured once per process.

Having the instructions is not enough: where bfloat16 matmuls are fast (AMX tiles; on earlier days this
project's machine embedded 2.3x faster in bfloat16 than in float32) "auto" should use them, but on 2026-12-07 the
same machine showed avx512_bf16 and no AMX, and every bfloat16 Linear took 1.85x the time of the float32 one
(oneDNN's avx512_core_bf16 kernel against MKL's float32 GEMM), so "auto" precision made ingest, search and
training slower. `cpu_prefers_bf16` therefore times both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

# The probe: one Linear the size of an encoder layer's FFN input projection over a batch of tokens (rows x in ->
# out), float32 against bfloat16 weights and inputs, best of `PROBE_ROUNDS` after a warm-up; ~50 ms in all.
PROBE_SHAPE = (1024, 384, 1536)
PROBE_ROUNDS = 3
# bfloat16 rounds every product (vectors move by ~1e-4): worth it only when it is clearly faster.
BF16_MIN_SPEEDUP = 1.2


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
    """True on x86 CPUs with bfloat16 instructions (avx512_bf16 or AMX); without them bf16 is always slower.
    Whether it is faster with them depends on the CPU: see `cpu_prefers_bf16`."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_prefers_bf16() -> bool:
    """What "auto" precision follows on a CPU: bfloat16 instructions present and a bfloat16 matmul measured at
    least `BF16_MIN_SPEEDUP` times as fast as float32 (`bf16_matmul_speedup`)."""
    return cpu_has_bf16() and bf16_matmul_speedup() >= BF16_MIN_SPEEDUP


@cache
def bf16_matmul_speedup() -> float:
    """float32 time / bfloat16 time of the probe Linear on this CPU with torch's current thread count, measured
    once per process (about 50 ms); 0.0 where the CPU has no bfloat16 instructions (not measured)."""
    if not cpu_has_bf16():
        return 0.0
    import torch

    rows, inputs, outputs = PROBE_SHAPE
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, inputs, generator=generator)
    w = torch.randn(outputs, inputs, generator=generator)
    with torch.inference_mode():
        fp32 = _best_time(lambda: torch.nn.functional.linear(x, w))
        xb, wb = x.to(torch.bfloat16), w.to(torch.bfloat16)
        bf16 = _best_time(lambda: torch.nn.functional.linear(xb, wb))
    return fp32 / max(bf16, 1e-9)


def _best_time(run: Callable[[], object]) -> float:
    run()  # warm-up: kernel selection and weight packing
    best = float("inf")
    for _ in range(PROBE_ROUNDS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def cpu_has_vnni() -> bool:
    """True on CPUs with VNNI, which multiply u8 x s8 without 16-bit saturation (full 8-bit int8 activations)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni"})


def cpu_has_amx() -> bool:
    """True on x86 CPUs with AMX tiles (Sapphire Rapids and later)."""
    return bool(cpu_flags() & {"amx_tile", "amx_int8", "amx_bf16"})
