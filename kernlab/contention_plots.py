"""Figures and small tables for the write-contention notebooks (06-09): results table in,
plotly figure or text out. Nothing here runs an experiment or contains a measured number."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from .plots import PALETTE, _base_layout
from .results import ResultTable


def fairness_lines(table: ResultTable) -> str:
    """One line per variant x threads: acquisitions per thread (min, max, cv), waits per
    op, p50/p99 latency, and the check."""
    out = []
    groups = defaultdict(list)
    for r in table.rows:
        groups[(r["variant"], r["threads"])].append(r)
    for (variant, threads), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        r = sorted(rows, key=lambda r: r["ops_per_sec"])[(len(rows) - 1) // 2]
        lat = lambda k: "n/a" if r.get(k) is None else f"{r[k]:,.0f}"
        out.append(f"{variant:15s} x{threads:<3d}{'*' if r['oversubscribed'] else ' '} "
                   f"{r['ops_per_sec'] / 1e6:9.2f} Mops/s  per-thread min {r['fairness_min']:>10,} "
                   f"max {r['fairness_max']:>10,}  cv {r['fairness_cv']:5.2f}  "
                   f"p50 {lat('lat_p50_ns'):>8} ns  p99 {lat('lat_p99_ns'):>10} ns  "
                   f"{'ok' if r['check_passed'] else 'CHECK FAILED'}")
    return "\n".join(out) + ("\n(* = more threads than cores)" if any(r["oversubscribed"] for r in table.rows) else "")


def batch_histogram_figure(table: ResultTable, title: str | None = None) -> go.Figure:
    """Flat combining: how many requests each combining session served, per thread count."""
    fig = go.Figure()
    rows = [r for r in table.rows if r["variant"] == "flat_combining" and r.get("metric_batch_hist")]
    by_threads = defaultdict(lambda: None)
    for r in rows:
        hist = np.asarray(r["metric_batch_hist"], float)
        prev = by_threads[r["threads"]]
        by_threads[r["threads"]] = hist if prev is None else prev[:len(hist)] + hist[:len(prev)]
    for i, (threads, hist) in enumerate(sorted(by_threads.items())):
        share = hist / hist.sum() if hist.sum() else hist
        fig.add_trace(go.Bar(x=list(range(len(share))), y=share, name=f"{threads} threads",
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(barmode="group")
    return _base_layout(fig, title or "flat combining: requests served per combining session",
                        "batch size (requests served by one combiner)", "share of sessions")


def excess_figure(table: ResultTable, title: str | None = None) -> go.Figure:
    """The exact-count check per variant and thread count: operations counted too many
    (double counts, > 0) or lost (< 0). Correct counters sit on zero."""
    fig = go.Figure()
    groups = defaultdict(list)
    for r in table.rows:
        groups[r["variant"]].append(r)
    for i, (variant, rows) in enumerate(sorted(groups.items())):
        xs = sorted({r["threads"] for r in rows})
        ys = [max(r.get("metric_excess", 0) for r in rows if r["threads"] == x) for x in xs]
        fig.add_trace(go.Bar(x=[str(x) for x in xs], y=ys, name=variant, marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group")
    return _base_layout(fig, title or "count minus the sum of the deltas added (0 = exact)",
                        "threads", "excess count")
