"""Machine facts for provenance: CPU, cores, caches, OS, library versions, timer cost."""
from __future__ import annotations

import functools
import os
import platform
import sys
from datetime import datetime, timezone

import numpy as np

from . import __version__
from . import atomics as A
from .jit import kernel
from .layout import cache_line_size


def usable_cores() -> int:
    """CPUs this process may run on (affinity mask), which can be fewer than installed."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read(folder: str, name: str) -> str:
    with open(os.path.join(folder, name)) as f:
        return f.read().strip()


def cache_sizes() -> dict:
    """Cache sizes by level and type from sysfs, e.g. {'L1d': '32K', 'L2': '1024K'}."""
    sizes = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            if not entry.startswith("index"):
                continue
            folder = os.path.join(base, entry)
            kind = _read(folder, "type")
            label = f"L{_read(folder, 'level')}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
            sizes[label] = _read(folder, "size")
    except OSError:
        pass
    return sizes


@kernel(_nrt=True)  # allocates its result
def _timer_pairs(n):
    deltas = np.empty(n, np.int64)
    for i in range(n):
        t0 = A.now_ns()
        t1 = A.now_ns()
        deltas[i] = t1 - t0
    return deltas


@functools.lru_cache(maxsize=1)
def timer_overhead_ns() -> float:
    """Median ns between two back-to-back ``now_ns`` calls in compiled code: what one
    clock read adds to a latency sample."""
    return float(np.median(_timer_pairs(20001)))


def probe(with_timer: bool = True) -> dict:
    """Everything a result needs to say where it was measured."""
    import llvmlite
    import numba
    facts = {
        "cpu_model": cpu_model(),
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "cache_line_bytes": cache_line_size(),
        "caches": cache_sizes(),
        "os": platform.platform(),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "numpy": np.__version__,
        "kernlab": __version__,
        "probed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if with_timer:
        facts["timer_overhead_ns"] = round(timer_overhead_ns(), 2)
    return facts
