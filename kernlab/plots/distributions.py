"""Distributions at one point: how operations split over threads (fairness), how many
requests a combiner served per session, and by how much a count missed the truth."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from ..tables import median_trial
from ._style import base_layout, by_variant, color, group, min_max_error, point_rows, point_text

if TYPE_CHECKING:
    from ..tables import ResultTable


def fairness_figure(table: ResultTable, threads: int | None = None, title: str | None = None,
                    **where) -> go.Figure:
    """Operations done by each thread, per variant, at one point (default: the most
    threads run and the largest value of any swept parameter; ``where`` picks others):
    equal bars mean a fair primitive, one tall bar a starving one."""
    fig = go.Figure()
    rows_here, picked = point_rows(table, threads, where)
    threads = picked.get("threads")
    if rows_here:
        for i, (name, rows) in enumerate(by_variant(rows_here).items()):
            ops = np.array(median_trial(rows)["per_thread_ops"], dtype=float)
            share = ops / ops.sum() if ops.sum() else ops
            fig.add_trace(go.Bar(x=[f"t{j}" for j in range(len(ops))], y=share, name=name, marker_color=color(i),
                                 hovertemplate="%{x}: %{y:.1%} of ops<extra>" + name + "</extra>"))
        fig.add_hline(y=1 / threads, line_dash="dot", line_color="gray", annotation_text="fair share")
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%")
    return base_layout(fig, title or f"fairness: share of operations per thread{point_text(picked)}",
                       "thread", "share of ops")


def _latency_text(row: dict, column: str) -> str:
    return "n/a" if row.get(column) is None else f"{row[column]:,.0f}"


def fairness_lines(table: ResultTable) -> str:
    """One line per variant x threads (its median trial): acquisitions per thread (min,
    max, cv), p50/p99 latency, and the check."""
    out = []
    groups = group(table.rows, "variant", "threads")
    for (variant, threads), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        r = median_trial(rows)
        out.append(f"{variant:15s} x{threads:<3d}{'*' if r['oversubscribed'] else ' '} "
                   f"{r['ops_per_sec'] / 1e6:9.2f} Mops/s  per-thread min {r['fairness_min']:>10,} "
                   f"max {r['fairness_max']:>10,}  cv {r['fairness_cv']:5.2f}  "
                   f"p50 {_latency_text(r, 'lat_p50_ns'):>8} ns  p99 {_latency_text(r, 'lat_p99_ns'):>10} ns  "
                   f"{'ok' if r['check_passed'] else 'CHECK FAILED'}")
    return "\n".join(out) + ("\n(* = more threads than cores)" if any(r["oversubscribed"] for r in table.rows) else "")


def batch_histogram_figure(table: ResultTable, title: str | None = None) -> go.Figure:
    """Flat combining: how many requests each combining session served, per thread count
    (sessions summed over all trials: a share of sessions, so no trial needs picking)."""
    fig = go.Figure()
    rows = [r for r in table.rows if r["variant"] == "flat_combining" and r.get("metric_batch_hist")]
    by_threads: dict[int, np.ndarray] = {}
    for r in rows:
        hist = np.asarray(r["metric_batch_hist"], float)
        prev = by_threads.get(r["threads"])
        by_threads[r["threads"]] = hist if prev is None else prev[:len(hist)] + hist[:len(prev)]
    for i, (threads, hist) in enumerate(sorted(by_threads.items())):
        share = hist / hist.sum() if hist.sum() else hist
        fig.add_trace(go.Bar(x=list(range(len(share))), y=share, name=f"{threads} threads", marker_color=color(i)))
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(barmode="group")
    return base_layout(fig, title or "flat combining: requests served per combining session",
                       "batch size (requests served by one combiner)", "share of sessions")


def excess_figure(table: ResultTable, title: str | None = None) -> go.Figure:
    """The exact-count check per variant and thread count: operations counted too many
    (double counts, > 0) or lost (< 0). Correct counters sit on zero.

    Each bar is the median trial's excess and its error bar spans every trial, so both
    signs stay visible: a max() over trials would show a trial that lost updates (< 0)
    as 0 whenever another trial was exact (issue 8). Rows without the metric are left
    out rather than drawn as an exact zero."""
    fig = go.Figure()
    rows = [r for r in table.rows if r.get("metric_excess") is not None]
    for i, (variant, vrows) in enumerate(by_variant(rows).items()):
        by_threads = sorted(group(vrows, "threads").items())
        ys = [median_trial(trials, "metric_excess")["metric_excess"] for _, trials in by_threads]
        samples = [[r["metric_excess"] for r in trials] for _, trials in by_threads]
        fig.add_trace(go.Bar(x=[str(t) for (t,), _ in by_threads], y=ys, name=variant, marker_color=color(i),
                             error_y=min_max_error(samples, ys),
                             customdata=[", ".join(f"{v:,}" for v in s) for s in samples],
                             hovertemplate="%{y:,} (median trial); all trials: %{customdata}<extra>"
                                           + variant + "</extra>"))
    fig.add_hline(y=0, line_color="gray")  # the exact count: bars below it lost updates
    fig.update_layout(barmode="group")
    return base_layout(fig, title or "count minus the sum of the deltas added (0 = exact)",
                       "threads", "excess count")
