"""Choosing the rows a claim is judged on, and naming the conditions they were measured under.

A results table can hold many conditions at once (a read_ratio sweep, two table sizes,
a shards sweep). A judge compares variants only *within* one set of conditions: it
groups the rows by the parameters its claim is about, keeps the groups in which every
variant it compares was measured at one thread count at least, picks the group its
claim speaks of (the most read-heavy one, the hottest keys, ...) and prints *that*
group's conditions, never those of whichever row came first. No ``EXPERIMENT`` here,
so the registry skips this module.
"""
from __future__ import annotations

import numpy as np


def experiment_rows(table, experiment: str, variants=None) -> list:
    """The rows of ``experiment`` (of ``variants`` if given) that were not oversubscribed."""
    return [r for r in table.rows if r["experiment"] == experiment and not r.get("oversubscribed")
            and (variants is None or r["variant"] in variants)]


def thread_counts(rows, variants) -> list:
    """Thread counts at which every one of ``variants`` has rows, ascending."""
    sets = [{r["threads"] for r in rows if r["variant"] == v} for v in variants]
    return sorted(set.intersection(*sets)) if sets else []


def pick_group(rows, params, variants, prefer):
    """``(conditions, rows)`` of the group of rows with equal ``params`` in which every
    one of ``variants`` was measured at a common thread count, the one that maximises
    ``prefer(conditions, rows)``; ``(None, [])`` if there is none."""
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r.get(f"param_{p}") for p in params), []).append(r)
    candidates = [(dict(zip(params, key)), rs) for key, rs in groups.items() if thread_counts(rs, variants)]
    if not candidates:
        return None, []
    return max(candidates, key=lambda c: prefer(*c))


def pick_sweep(rows, params, score):
    """``(conditions, rows, threads)``: among the groups of rows with equal ``params``
    and thread count, the one with the highest ``score(conditions, rows)`` (then the
    most threads); ``score`` returns None for a group that cannot be judged.
    ``(None, [], 0)`` if none can."""
    groups = {}
    for r in rows:
        groups.setdefault((tuple(r.get(f"param_{p}") for p in params), r["threads"]), []).append(r)
    best, best_key = (None, [], 0), None
    for (key, threads), rs in groups.items():
        conditions = dict(zip(params, key))
        s = score(conditions, rs)
        if s is not None and (best_key is None or (s, threads) > best_key):
            best, best_key = (conditions, rs, threads), (s, threads)
    return best


def ratios_over(rows, a: str, b: str, swept: str) -> list:
    """``[(value, rate of a / rate of b)]`` for every value of the parameter ``swept``
    at which both were measured among ``rows`` (one thread count), ascending."""
    out = []
    for value in sorted({r.get(f"param_{swept}") for r in rows} - {None}):
        ra, rb = (median_of(rows, v, rows[0]["threads"], **{swept: value}) for v in (a, b))
        out += [(value, ra / rb)] if ra and rb else []
    return out


def conditions_text(conditions: dict) -> str:
    """``read_ratio 0.999, table_size 1024``: the conditions a verdict was judged under
    (a flag only when set: ``read_only``)."""
    return ", ".join(k if v is True else f"{k} {v}" for k, v in conditions.items() if v is not None and v is not False)


def median_of(rows, variant: str, threads: int, **params) -> float | None:
    """Median ops/s of ``variant`` at ``threads`` among ``rows`` (whose ``param_`` columns
    equal ``params``); None if there is no such row."""
    rates = [r["ops_per_sec"] for r in rows if r["variant"] == variant and r["threads"] == threads
             and all(r.get(f"param_{k}") == v for k, v in params.items())]
    return float(np.median(rates)) if rates else None


def read_share(conditions: dict) -> float:
    """The share of lookups the conditions stand for (``read_only`` counts as 1)."""
    return 1.0 if conditions.get("read_only") else float(conditions.get("read_ratio") or 0.0)


def plural(threads: int) -> str:
    return f"{threads} thread{'s' if threads > 1 else ''}"
