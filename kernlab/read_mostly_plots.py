"""Figures for the read-mostly notebooks (02-05): results table in, plotly figure out.
Nothing here runs an experiment or contains a measured number."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from .plots import PALETTE, _base_layout, _series
from .results import ResultTable


def metric_figure(table: ResultTable, metric: str, x: str = "threads", title: str | None = None,
                  ytitle: str | None = None, log: bool = False) -> go.Figure:
    """Median of ``metric_<metric>`` per variant against ``x`` (threads or a parameter),
    min..max over repeats as error bars; broken variants dashed."""
    fig = go.Figure()
    col = f"metric_{metric}"
    for i, (name, points) in enumerate(sorted(_series(table, x).items())):
        xs = sorted((v for v in points if any(r.get(col) is not None for r in points[v])),
                    key=lambda v: (v is None, v))
        if not xs:
            continue
        vals = [np.array([r[col] for r in points[v] if r.get(col) is not None], float) for v in xs]
        med = [float(np.median(a)) for a in vals]
        broken = any(r.get("broken") for v in xs for r in points[v])
        fig.add_trace(go.Scatter(
            x=xs, y=med, name=name + (" (broken)" if broken else ""), mode="lines+markers",
            line=dict(color=PALETTE[i % len(PALETTE)], dash="dash" if broken else "solid"),
            error_y=dict(type="data", symmetric=False, array=[float(a.max()) - m for a, m in zip(vals, med)],
                         arrayminus=[m - float(a.min()) for a, m in zip(vals, med)])))
    if x != "threads":
        fig.update_xaxes(type="category")
    if log:
        fig.update_yaxes(type="log")
    return _base_layout(fig, title or f"{metric} (median, min..max of repeats)", x, ytitle or metric)


def series_figure(table: ResultTable, name: str = "garbage", title: str | None = None) -> go.Figure:
    """A sampled series over time (``metric_<name>_series`` against ``_series_ms``), one
    line per variant x threads (the median trial), with the hard bound dotted when the
    rows report one (``metric_<name>_bound``)."""
    fig = go.Figure()
    groups = defaultdict(list)
    for r in table.rows:
        if r.get(f"metric_{name}_series"):
            groups[(r["variant"], r["threads"])].append(r)
    bounds = set()
    for i, ((variant, threads), rows) in enumerate(sorted(groups.items())):
        r = sorted(rows, key=lambda r: r["ops_per_sec"])[(len(rows) - 1) // 2]
        fig.add_trace(go.Scatter(x=r[f"metric_{name}_series_ms"], y=r[f"metric_{name}_series"],
                                 name=f"{variant} x{threads}", mode="lines",
                                 line=dict(color=PALETTE[i % len(PALETTE)], shape="hv")))
        if r.get(f"metric_{name}_bound") is not None:
            bounds.add(r[f"metric_{name}_bound"])
    for b in sorted(bounds):
        fig.add_hline(y=b, line_dash="dot", line_color="gray", annotation_text=f"bound {b}")
    return _base_layout(fig, title or f"{name} outstanding over one trial (sampled by thread 0)",
                        "ms since the first sample", f"{name} outstanding")


def shard_profiles_figure(cpus=(1, 2, 4, 8, 16, 32, 64, 128, 256)) -> go.Figure:
    """ShardManager's shard count per workload profile against the CPU count: the
    catalogue's rule (4x / 2x / 1x CPUs, next power of two, clamped to 8..512)."""
    from .primitives.shard_manager import PROFILES, ShardManager
    fig = go.Figure()
    for i, name in enumerate(PROFILES):
        fig.add_trace(go.Scatter(x=list(cpus), y=[ShardManager.shards(name, cpus=c) for c in cpus],
                                 name=name, mode="lines+markers", line=dict(color=PALETTE[i])))
    fig.update_xaxes(type="log", tickvals=list(cpus))
    fig.update_yaxes(type="log", tickvals=[8, 16, 32, 64, 128, 256, 512])
    fig = _base_layout(fig, "ShardManager: shards per workload profile", "CPUs", "shards")
    fig.update_layout(legend_title_text="profile")
    return fig


def ratio_lines(table: ResultTable, numerator: str, denominators, by: str = "threads") -> str:
    """Text lines: median throughput of ``numerator`` over each of ``denominators`` at
    every value of ``by`` (threads or a param_ column) present for both."""
    out = []
    values = sorted({r.get(by) for r in table.rows if r.get(by) is not None})
    for v in values:
        rate = lambda variant: [r["ops_per_sec"] for r in table.rows if r["variant"] == variant and r.get(by) == v]
        top = rate(numerator)
        if not top:
            continue
        parts = []
        for d in denominators:
            bottom = rate(d)
            if bottom:
                parts.append(f"{float(np.median(top)) / float(np.median(bottom)):.2f}x {d}")
        if parts:
            out.append(f"{by.removeprefix('param_')} {v}: {numerator} " + ", ".join(parts))
    return "\n".join(out)
