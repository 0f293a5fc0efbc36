"""The `alloc` experiment's claims: pooling, arenas and jemalloc, judged from a results
table (no ``EXPERIMENT`` here; ``alloc.py`` exports ``CLAIMS``).

Each judge compares two variants (or two allocators) *within one set of conditions*
(size, sizes, live, release, allocator), at every thread count where both ran, and
says at which thread counts (oversubscribed ones marked) the claim held.
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim, Verdict
from ._judging import conditions_text

CONDITIONS = ("size", "sizes", "live", "release", "request_ops", "allocator")


def _rows(table, variant, **params):
    return [r for r in table.rows if r["experiment"] == "alloc" and r["variant"] == variant
            and all(r.get(f"param_{k}") == v for k, v in params.items())]


def _median(rows, column):
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return float(np.median(values)) if values else None


def paired(table, a: str, b: str, vary: str | None = None, a_value=None, b_value=None) -> list:
    """``[(conditions, threads, oversubscribed, rows_a, rows_b)]``: groups of equal
    conditions where ``a`` and ``b`` both ran (or, with ``vary``, one variant ``a`` at two
    values of that parameter)."""
    keys = [k for k in CONDITIONS if k != vary]
    groups = {}
    for r in table.rows:
        if r["experiment"] != "alloc":
            continue
        if vary is None and r["variant"] in (a, b):
            side = r["variant"]
        elif vary is not None and r["variant"] == a and r.get(f"param_{vary}") in (a_value, b_value):
            side = "a" if r.get(f"param_{vary}") == a_value else "b"
        else:
            continue
        key = (tuple(r.get(f"param_{k}") for k in keys), r["threads"])
        groups.setdefault(key, {}).setdefault(side, []).append(r)
    sides = (a, b) if vary is None else ("a", "b")
    return [(dict(zip(keys, key)), threads, g[sides[0]][0]["oversubscribed"], g[sides[0]], g[sides[1]])
            for (key, threads), g in sorted(groups.items(), key=lambda kv: kv[0][1]) if all(s in g for s in sides)]


def _where(threads, over):
    return f"{threads} thread{'s' * (threads > 1)}" + (" (oversubscribed)" if over else "")


POOL_SAYS = "Buffer pooling cuts allocation pressure by 50-80% and latency by 5-15%."


def _pooling(table) -> Verdict:
    pairs = paired(table, "pool", "malloc")
    if not pairs:
        return Verdict(POOL_SAYS, "needs pool and malloc rows under equal conditions", "not measured",
                       "Run alloc's pool and malloc variants side by side.")
    parts, held = [], []
    for _cond, threads, over, pool, malloc in pairs:
        pa, ma = _median(pool, "metric_allocs_per_op"), _median(malloc, "metric_allocs_per_op")
        pl, ml = _median(pool, "lat_p50_ns"), _median(malloc, "lat_p50_ns")
        if pa is None or not ma:
            continue
        cut = 1 - pa / ma
        faster = None if not pl or not ml else 1 - pl / ml
        parts.append(f"{_where(threads, over)}: {cut:.0%} fewer allocator calls per op"
                     + ("" if faster is None else f", median latency {faster:+.0%} lower"))
        held.append((cut >= 0.5, faster is not None and faster >= 0.05))
    if not held:
        return Verdict(POOL_SAYS, "the rows lack allocs_per_op", "not measured", "Rerun with this kernlab.")
    measured = f"{conditions_text(pairs[0][0])}: " + "; ".join(parts)
    if all(a and b for a, b in held):
        return Verdict(POOL_SAYS, measured, "holds",
                       "The pool served buffers without calling the allocator and answered faster; a cut above "
                       "80% means the pool did better than the claim, not worse.")
    if any(a for a, _ in held):
        return Verdict(POOL_SAYS, measured, "partly holds",
                       "The allocation pressure fell as claimed, but the latency gain did not appear everywhere.")
    return Verdict(POOL_SAYS, measured, "does not hold", "The pool kept calling the allocator (misses).")


def _ratio_verdict(pairs, column, win, what, small_ok):
    parts, ratios = [], []
    for _cond, threads, over, a, b in pairs:
        ra, rb = _median(a, column), _median(b, column)
        if ra and rb:
            ratios.append(ra / rb)
            parts.append(f"{_where(threads, over)}: {ra / rb:.2f}x")
    if not ratios:
        return None, None
    measured = f"{what} ({conditions_text(pairs[0][0])}): " + "; ".join(parts)
    if all(r >= win for r in ratios):
        return measured, "holds"
    if any(r > small_ok for r in ratios):
        return measured, "partly holds"
    return measured, "does not hold"


JEMALLOC_SAYS = "Swapping in jemalloc makes allocations 10-20% faster than the system allocator."


def _jemalloc(table) -> Verdict:
    pairs = paired(table, "malloc", "malloc", vary="allocator", a_value="jemalloc", b_value="system")
    measured, verdict = _ratio_verdict(pairs, "ops_per_sec", 1.10,
                                       "malloc ops/s with jemalloc over glibc", 1.0)
    if verdict is None:
        return Verdict(JEMALLOC_SAYS, "needs malloc rows with allocator=jemalloc and =system", "not measured",
                       "Run the malloc variant with both allocators (jemalloc installed: libjemalloc2).")
    why = {"holds": "jemalloc's thread caches beat glibc's malloc here by at least the claimed 10%.",
           "partly holds": "jemalloc was faster at some thread counts but not by 10% everywhere.",
           "does not hold": "glibc's own per-thread cache (tcache) kept up with jemalloc here."}[verdict]
    return Verdict(JEMALLOC_SAYS, measured, verdict, why)


ARENA_SAYS = "Request arenas (bump allocation, freed all at once) are faster than malloc."


def _arena(table) -> Verdict:
    measured, verdict = _ratio_verdict(paired(table, "arena", "malloc"), "ops_per_sec", 1.0,
                                       "arena ops/s over malloc", 0.0)
    if verdict is None:
        return Verdict(ARENA_SAYS, "needs arena and malloc rows under equal conditions", "not measured",
                       "Run alloc's arena and malloc variants side by side.")
    why = {"holds": "An add and a compare per buffer, and one reset per request, beat malloc plus free.",
           "partly holds": "The arena won at some thread counts only.",
           "does not hold": "malloc kept up with the arena here."}[verdict]
    return Verdict(ARENA_SAYS, measured, verdict, why)


CLAIMS = (
    Claim("pool-allocation-pressure", "Tier 2, item 8 (buffer pools)", POOL_SAYS, "alloc", _pooling),
    Claim("arena-faster", "Tier 3, item 13 (request arenas)", ARENA_SAYS, "alloc", _arena),
    Claim("jemalloc-faster", "Tier 3, item 12 (allocator swap)", JEMALLOC_SAYS, "alloc", _jemalloc),
)
