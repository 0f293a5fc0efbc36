"""Pieces shared by the read-mostly experiments (process_table, stats_snapshot, fd_table):
parameter declarations, the stalled reader, the garbage-over-time sampler. No
``EXPERIMENT`` here, so the registry skips this module."""
import numpy as np

from .. import atomics as A
from ..declaration import Param
from ..jit import kernel
from ..harness import stopping
from ..workload import FIBONACCI

STALL_EVERY = 1024                 # the stalled reader stalls once per this many of its lookups
SERIES_CAPACITY = 4096             # garbage samples kept (the latest ones)
SERIES_INTERVAL_NS = 500_000       # at most one sample per half millisecond
SERIES_POINTS = 120                # points reported in the metrics (downsampled)


def read_ratio_param(default=0.999):
    return Param("read_ratio", float, default, "share of operations that are lookups; the rest are updates",
                 low=0.5, high=0.99999)


def read_only_param():
    return Param("read_only", bool, False, "no updates at all (overrides read_ratio; for read-only benchmarks)")


def key_skew_param():
    return Param("key_skew", float, 0.0, "0 = uniform keys; s > 0 = Zipf exponent (0.99: a few hot keys)",
                 low=0.0, high=3.0)


SHARD_CHOICES = tuple(1 << i for i in range(11))          # 1 .. 1024


def shard_params():
    """``shards`` (default from ShardManager's high-contention profile) and ``shard_index``."""
    from ..primitives.shard_manager import ShardManager
    return (Param("shards", int, ShardManager.shards("high"), "shards of the `sharded` variant (default: "
                  "ShardManager, high-contention profile, for this machine's CPUs)", choices=SHARD_CHOICES,
                  power_of_two=True),
            Param("shard_index", str, "mask", "how `sharded` picks a shard: hash & (shards-1), or hash % shards",
                  choices=("mask", "modulo")))


def stall_param():
    return Param("stall_us", int, 0, "the last thread stalls this many microseconds inside a read section, "
                 f"once every {STALL_EVERY} of its lookups (0 = never)", low=0, high=100_000)


def update_threshold(params) -> int:
    from ..workload import probability_threshold
    return 0 if params.get("read_only") else probability_threshold(1.0 - params["read_ratio"])


@kernel
def maybe_stall(ctl, stall_ns, stalled_tid, tid, n):
    """Spin ``stall_ns`` inside the caller's read section if tid is the stalled reader
    and this is its turn; polls the stop flag, so a run still ends on time."""
    if stall_ns > 0 and tid == stalled_tid and (n & (STALL_EVERY - 1)) == STALL_EVERY - 1:
        until = A.now_ns() + stall_ns
        while A.now_ns() < until:
            if stopping(ctl):
                return
            A.cpu_relax()


def make_series() -> np.ndarray:
    """Row 0: [samples taken, time of the last sample, time of the first]; then (t_ns, value) rows."""
    return np.zeros((SERIES_CAPACITY + 1, 2), np.int64)


@kernel
def sample_series(series, value_array, index, tid, n):
    """Thread 0 records ``value_array[index]`` (relaxed: a statistic) at most every
    SERIES_INTERVAL_NS; only thread 0 writes the series."""
    if tid != 0 or (n & 255) != 0:
        return
    t = A.now_ns()
    taken = series[0, 0]
    if taken > 0 and t - series[0, 1] < SERIES_INTERVAL_NS:
        return
    row = 1 + taken % SERIES_CAPACITY
    series[row, 0] = t
    series[row, 1] = A.load_relaxed(value_array, index)
    series[0, 1] = t
    series[0, 0] = taken + 1


def series_metrics(series: np.ndarray, name: str) -> dict:
    """``{name}_series`` (values) and ``{name}_series_ms`` (times since the first
    sample kept), downsampled to at most SERIES_POINTS; ``{name}_max`` over all kept."""
    taken = int(series[0, 0])
    if taken == 0:
        return {f"{name}_series": [], f"{name}_series_ms": [], f"{name}_max": 0}
    rows = series[1:1 + min(taken, SERIES_CAPACITY)]
    if taken > SERIES_CAPACITY:          # a ring: put the oldest first
        start = taken % SERIES_CAPACITY
        rows = np.concatenate([rows[start:], rows[:start]])
    pick = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), SERIES_POINTS)).astype(int))
    t0 = rows[0, 0]
    return {f"{name}_series": [int(v) for v in rows[pick, 1]],
            f"{name}_series_ms": [round((int(t) - int(t0)) / 1e6, 3) for t in rows[pick, 0]],
            f"{name}_max": int(rows[:, 1].max())}


def shard_load(keys: np.ndarray, shards: int) -> dict:
    """How evenly the precomputed key streams spread over ``shards`` shards (the same
    Fibonacci hash as primitives.shard_manager): busiest shard / mean, and the CV."""
    h = (keys.astype(np.uint64) * FIBONACCI) >> np.uint64(33)   # = shard_manager.key_hash
    counts = np.bincount((h & np.uint64(shards - 1)).astype(np.int64).ravel(), minlength=shards)
    mean = counts.mean()
    return {"shard_busiest_over_mean": float(counts.max() / mean) if mean else 0.0,
            "shard_load_cv": float(counts.std() / mean) if mean else 0.0}
