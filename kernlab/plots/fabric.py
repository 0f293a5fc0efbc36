"""Your machine's fabric: the core-to-core latency heatmap, the cost ladder, and the
litmus-test counts.

Each figure takes a results table (live, or loaded from a file) or the summary a
benchmark record stores (``benchmarks/bench_fabric.py``: ``c2c``, ``ladder``,
``litmus``), so this machine and a bigger one draw the same way.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ._style import PALETTE, base_layout


def pair_matrix(table, variant: str = "cas") -> dict:
    """``{"cpus", "median", "min", "max", "trials"}`` from c2c rows pinned to pairs: N x N
    lists of one-way hand-off nanoseconds (median and min..max over trials), symmetric,
    None where a pair was not measured (the diagonal)."""
    per_pair: dict = {}
    for r in table.rows:
        cpus = r.get("pin_cpus") or []
        ns = r.get("metric_handoff_ns")
        if r["experiment"] == "c2c" and r["variant"] == variant and len(cpus) == 2 and ns is not None:
            per_pair.setdefault(tuple(sorted(cpus)), []).append(float(ns))
    cpus = sorted({c for pair in per_pair for c in pair})
    index = {c: i for i, c in enumerate(cpus)}
    out = {"cpus": cpus, "variant": variant}
    for name, fn in (("median", np.median), ("min", np.min), ("max", np.max), ("trials", len)):
        m = [[None] * len(cpus) for _ in cpus]
        for (a, b), values in per_pair.items():
            m[index[a]][index[b]] = m[index[b]][index[a]] = float(fn(values))
        out[name] = m
    return out


def heatmap_figure(source, variant: str = "cas", title: str | None = None) -> go.Figure:
    """The N x N core-to-core latency heatmap, from a table of c2c rows or a ``pair_matrix``."""
    m = source if isinstance(source, dict) else pair_matrix(source, variant)
    labels = [str(c) for c in m["cpus"]]
    z = [[np.nan if v is None else v for v in row] for row in m["median"]]
    text = [[("" if m["median"][i][j] is None else
              f"CPU {labels[i]} ↔ {labels[j]}: {m['median'][i][j]:.0f} ns "
              f"(min {m['min'][i][j]:.0f}, max {m['max'][i][j]:.0f})") for j in range(len(labels))]
            for i in range(len(labels))]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, text=text, hoverinfo="text", colorscale="Viridis",
                               colorbar={"title": "ns one way"}))
    if len(labels) <= 16:
        fig.update_traces(texttemplate="%{z:.0f}")
    base_layout(fig, title or f"Core to core: one cache line handed over by CAS ({len(labels)} CPUs)",
                "CPU", "CPU")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    fig.update_layout(height=max(360, 28 * len(labels) + 160), width=max(420, 28 * len(labels) + 220))
    return fig


def ladder_figure(source, title: str | None = None) -> go.Figure:
    """Bars of ns per operation per rung (median, whiskers min..max over trials), log
    scale, from a table of cost_ladder rows or ``ladder_costs`` output."""
    if hasattr(source, "rows"):
        from ..experiments.cost_ladder import ladder_costs
        source = ladder_costs(source)
    costs = sorted(source, key=lambda c: c["median_ns"])
    names = [c["rung"].replace("_", " ") for c in costs]
    med = np.array([c["median_ns"] for c in costs])
    fig = go.Figure(go.Bar(
        x=names, y=med, marker_color=[PALETTE[0] if c.get("checks_passed", True) else "#b00" for c in costs],
        error_y={"type": "data", "symmetric": False, "array": [c["max_ns"] - c["median_ns"] for c in costs],
                 "arrayminus": [c["median_ns"] - c["min_ns"] for c in costs]},
        text=[f"{v:.1f}" if v < 100 else f"{v:.0f}" for v in med], textposition="outside",
        hovertemplate="%{x}: %{y:.2f} ns<extra></extra>"))
    base_layout(fig, title or "The cost ladder: ns per operation (median, min..max over trials)",
                "operation", "ns per operation (log scale)")
    fig.update_yaxes(type="log")
    fig.update_layout(showlegend=False)
    return fig


def ladder_lines(source) -> str:
    """The ladder as text, one rung a line, cheapest first."""
    if hasattr(source, "rows"):
        from ..experiments.cost_ladder import ladder_costs
        source = ladder_costs(source)
    return "\n".join(f"{c['rung']:>28s}  {c['median_ns']:9.2f} ns  ({c['min_ns']:.2f}..{c['max_ns']:.2f}, "
                     f"{c['trials']} trials)" for c in sorted(source, key=lambda c: c["median_ns"]))


def litmus_figure(source, title: str | None = None) -> go.Figure:
    """Reorders per million iterations per variant (median, whiskers min..max over
    trials), from a table of litmus rows or ``reorder_summary`` output. A red bar: a
    check failed (an outcome its ordering forbids was seen)."""
    if hasattr(source, "rows"):
        from ..experiments.litmus import reorder_summary
        source = reorder_summary(source)
    names = [s["variant"] + ("" if s.get("pin", "none") == "none" else f" (pinned {s.get('cpus') or s['pin']})")
             for s in source]
    fig = go.Figure(go.Bar(
        x=names, y=[s["median"] for s in source],
        marker_color=[PALETTE[0] if s["check_passed"] else "#b00" for s in source],
        error_y={"type": "data", "symmetric": False, "array": [s["max"] - s["median"] for s in source],
                 "arrayminus": [s["median"] - s["min"] for s in source]},
        text=[f"{s['reorders']:,} in {s['iterations']:,}" for s in source], textposition="outside",
        hovertemplate="%{x}: %{y:,.1f} per million<extra></extra>"))
    base_layout(fig, title or "Reorders per million iterations (median, min..max over trials)",
                "variant", "reorders per million")
    fig.update_layout(showlegend=False)
    return fig
