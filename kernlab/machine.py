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


SIMD_FEATURES = ("sse4_2", "avx2", "avx512f", "avx512bw", "neon", "asimd", "sve")


@functools.lru_cache(maxsize=1)
def simd_features() -> tuple:
    """The SIMD extensions this CPU reports among SIMD_FEATURES (``flags`` on x86,
    ``Features`` on Arm, from /proc/cpuinfo); empty when it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    flags = set(value.split())
                    return tuple(x for x in SIMD_FEATURES if x in flags)
    except OSError:
        pass
    return ()


def _cpu_list(text: str) -> list[int]:
    """``0-3,8`` (sysfs list format) -> [0, 1, 2, 3, 8]."""
    cpus = []
    for part in filter(None, text.strip().split(",")):
        low, _, high = part.partition("-")
        cpus += range(int(low), int(high or low) + 1)
    return cpus


def cpu_topology() -> list[dict]:
    """Where each usable CPU sits, from sysfs: ``{"cpu", "package", "core", "smt_siblings",
    "llc"}`` (``core`` is unique per package; ``smt_siblings`` the CPUs sharing its core;
    ``llc`` the CPUs sharing its last-level cache). Without sysfs every CPU is its own core
    in package 0 sharing one cache: nothing is claimed that was not read."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    out = []
    for cpu in cpus:
        base = f"/sys/devices/system/cpu/cpu{cpu}"
        entry = {"cpu": cpu, "package": 0, "core": cpu, "smt_siblings": [cpu], "llc": list(cpus)}
        try:
            entry["package"] = int(_read(f"{base}/topology", "physical_package_id"))
            entry["core"] = int(_read(f"{base}/topology", "core_id"))
            entry["smt_siblings"] = _cpu_list(_read(f"{base}/topology", "thread_siblings_list"))
            caches = [os.path.join(f"{base}/cache", e) for e in os.listdir(f"{base}/cache") if e.startswith("index")]
            if caches:
                last = max(caches, key=lambda folder: int(_read(folder, "level")))
                entry["llc"] = _cpu_list(_read(last, "shared_cpu_list"))
        except (OSError, ValueError):
            pass
        out.append(entry)
    return out


PIN_POLICIES = ("none", "compact", "scattered")


def pin_order(policy: str) -> list[int]:
    """The usable CPUs in the order a pinned run hands them to threads 0, 1, 2 ...

    ``compact``: close together: the SMT siblings of one core, then the next core of the
    same package (threads share caches, lines move the shortest way);
    ``scattered``: far apart: one CPU per core, alternating packages, SMT siblings last
    (each thread gets a core of its own before any core gets two)."""
    topo = cpu_topology()
    if policy == "compact":
        return [t["cpu"] for t in sorted(topo, key=lambda t: (t["package"], t["core"], t["cpu"]))]
    rank = {t["cpu"]: t["smt_siblings"].index(t["cpu"]) if t["cpu"] in t["smt_siblings"] else 0 for t in topo}
    cores = {}
    for t in topo:
        cores.setdefault(t["package"], [])
        if (t["package"], t["core"]) not in cores[t["package"]]:
            cores[t["package"]].append((t["package"], t["core"]))
    core_rank = {key: i for keys in cores.values() for i, key in enumerate(keys)}
    return [t["cpu"] for t in sorted(topo, key=lambda t: (rank[t["cpu"]], core_rank[(t["package"], t["core"])],
                                                          t["package"], t["cpu"]))]


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
        "simd": list(simd_features()),
        "os": platform.platform(),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "numpy": np.__version__,
        "kernlab": __version__,
        "probed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cache_miss_counter": _cache_miss_counter(),
    }
    if with_timer:
        facts["timer_overhead_ns"] = round(timer_overhead_ns(), 2)
    return facts


def _cache_miss_counter() -> str:
    from .hwcounters import available  # lazily: hwcounters is not needed to describe a machine otherwise
    ok, why = available()
    return "perf_event_open" if ok else f"none: {why}"
