"""The catalogue's success metrics, judged on `syscall_mix` (baseline against optimized).

Each verdict compares the two variants under equal conditions (thread count, read share,
key skew and the rest) and says under which conditions it holds; with several
conditions measured it reports each, and holds only where every one does.
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim, Verdict
from . import _judging as J

CONDITIONS = ("read_share", "key_skew", "failure_share", "rules", "table_size")


def _pairs(table, column):
    """{(threads, conditions...): (baseline median, optimized median)} of ``column``."""
    rows = J.experiment_rows(table, "syscall_mix", ("baseline", "optimized"))
    groups: dict = {}
    for r in rows:
        if r.get(column) is None:
            continue
        key = (r["threads"], *(r.get(f"param_{c}") for c in CONDITIONS))
        groups.setdefault(key, {}).setdefault(r["variant"], []).append(r[column])
    return {k: (float(np.median(v["baseline"])), float(np.median(v["optimized"])))
            for k, v in groups.items() if "baseline" in v and "optimized" in v}


def _condition_text(key) -> str:
    threads, *values = key
    shown = {c: v for c, v in zip(CONDITIONS, values, strict=True) if c in ("read_share", "key_skew")}
    return f"{J.plural(threads)}, {J.conditions_text(shown)}"


def _judge(says, column, target, better, describe, table) -> Verdict:
    """``better(base, opt)`` -> the relative gain (positive = better); holds where it
    reaches ``target`` in every measured condition, partly where it reaches it in some."""
    pairs = _pairs(table, column)
    if not pairs:
        return Verdict(says, f"needs baseline and optimized syscall_mix rows with {column}", "not measured",
                       "Run syscall_mix's baseline and optimized variants under the same conditions.")
    gains = {k: better(b, o) for k, (b, o) in sorted(pairs.items())}
    measured = "; ".join(f"{describe(gains[k], *pairs[k])} ({_condition_text(k)})" for k in gains)
    reached = [k for k, g in gains.items() if g >= target]
    if len(reached) == len(gains):
        return Verdict(says, measured, "holds", "Every measured condition reaches the target.")
    if reached:
        where = "; ".join(_condition_text(k) for k in reached)
        return Verdict(says, measured, "partly holds", f"It reaches the target only at: {where}.")
    return Verdict(says, measured, "does not hold",
                   "No measured condition reaches the target: see the waterfall for which switches pay and "
                   "which cost here.")


THROUGHPUT = "The patterns together raise system-call throughput by 30%."
P99 = "The patterns together cut P99 latency by 20%."
ALLOCS = "The patterns together cut memory allocations by 50%."
MISSES = "The patterns together cut cache misses by 25%."


def _throughput(table):
    return _judge(THROUGHPUT, "ops_per_sec", 0.30, lambda b, o: o / b - 1,
                  lambda g, b, o: f"{o / b:.2f}x the baseline's calls per second", table)


def _p99(table):
    return _judge(P99, "lat_p99_ns", 0.20, lambda b, o: 1 - o / b,
                  lambda g, b, o: f"p99 {b:,.0f} -> {o:,.0f} ns ({-g:+.0%})", table)


def _allocs(table):
    return _judge(ALLOCS, "metric_allocs_per_op", 0.50, lambda b, o: 1 - o / b if b > 0 else 0.0,
                  lambda g, b, o: f"{b:.2f} -> {o:.2f} allocator calls per call ({-g:+.0%})", table)


def _misses(table):
    if _pairs(table, "metric_cache_misses_per_op"):
        return _judge(MISSES, "metric_cache_misses_per_op", 0.25, lambda b, o: 1 - o / b if b > 0 else 0.0,
                      lambda g, b, o: f"{b:,.2f} -> {o:,.2f} cache misses per call ({-g:+.0%})", table)
    from ..hwcounters import available
    counted, why = available()
    reason = ("the rows were measured where no cache-miss counter was read; run syscall_mix's baseline and "
              "optimized here (trials count cache misses through perf_event_open)" if counted else
              f"this machine exposes no cache-miss counter ({why})")
    return Verdict(MISSES, "no cache-miss counter read", "not measured" if counted else "not measurable here",
                   reason)


CLAIMS = (
    Claim("syscall-throughput-30", "Success metrics", THROUGHPUT, "syscall_mix", _throughput),
    Claim("syscall-p99-20", "Success metrics", P99, "syscall_mix", _p99),
    Claim("syscall-allocations-50", "Success metrics", ALLOCS, "syscall_mix", _allocs),
    Claim("syscall-cache-misses-25", "Success metrics", MISSES, "syscall_mix", _misses),
)
