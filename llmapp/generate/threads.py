"""How many CPU threads a local generator runs when `threads` is not set.

llama.cpp's threads meet at a barrier after every layer and spin while they wait, so one thread that the
kernel parks behind another process stalls all the others: with `os.cpu_count()` threads on a 2-core machine
beside two busy processes, SmolLM2 fell from 67 to 2.5 tokens/s. So the default counts what this process
may really use, not the machine:

- the CPUs of its affinity mask (`os.sched_getaffinity`: a container or `taskset` may grant fewer than
  `os.cpu_count()`), one per physical core (two hyper-threads of a core share its arithmetic units);
- minus the CPUs that other processes keep busy right now (sampled from /proc/stat for 0.1 s);
- at least 1, at most `MAX_THREADS` (decoding a small model is limited by memory bandwidth well before that).

`bench/generate.py --load 2` measures tokens/s with and without two busy processes, old default and new.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MAX_THREADS = 8
BUSY_SAMPLE_S = 0.1
_SYS_CPU = Path("/sys/devices/system/cpu")
_PROC_STAT = Path("/proc/stat")


def usable_cpus() -> list[int]:
    """The CPU numbers this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int]) -> int:
    """Distinct physical cores among `cpus` (hyper-thread siblings count once); `len(cpus)` when unknown."""
    cores = set()
    for cpu in cpus:
        siblings = _SYS_CPU / f"cpu{cpu}" / "topology" / "thread_siblings_list"
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            return len(cpus)
    return len(cores) or len(cpus)


def busy_cpus(cpus: list[int], sample_s: float = BUSY_SAMPLE_S) -> float:
    """How many of `cpus` other work keeps busy, e.g. 2.0 for two spinning processes; 0.0 when unknown."""
    before = _cpu_times(cpus)
    if not before:
        return 0.0
    time.sleep(sample_s)
    after = _cpu_times(cpus)
    busy = 0.0
    for cpu, (idle_0, total_0) in before.items():
        idle_1, total_1 = after.get(cpu, (idle_0, total_0))
        if total_1 > total_0:
            busy += 1.0 - (idle_1 - idle_0) / (total_1 - total_0)
    return busy


def default_threads(busy: float | None = None) -> int:
    """Threads for generation on this machine now (see the module docstring); `busy` overrides the sample."""
    cpus = usable_cpus()
    cores = physical_cores(cpus)
    if busy is None:
        busy = busy_cpus(cpus)
    free = cores - round(busy)  # a busy hyper-thread slows its whole core: count it as one
    return max(1, min(MAX_THREADS, free))


def _cpu_times(cpus: list[int]) -> dict[int, tuple[int, int]]:
    """{cpu: (idle + iowait jiffies, total jiffies)} from /proc/stat, for the given CPUs."""
    try:
        lines = _PROC_STAT.read_text().splitlines()
    except OSError:
        return {}
    wanted = {f"cpu{n}": n for n in cpus}
    times = {}
    for line in lines:
        name, *fields = line.split()
        if name in wanted:
            values = [int(v) for v in fields[:8]]
            times[wanted[name]] = (values[3] + values[4], sum(values))
    return times
