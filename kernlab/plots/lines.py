"""Lines over a knob: one line per variant against threads or a parameter, the median of
the trials with their min..max as error bars; and the same comparison as text ratios."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from ._style import base_layout, color, group, ignores, min_max_error, series, sorted_x, x_key, x_title

if TYPE_CHECKING:
    from ..tables import ResultTable


def _column(table: ResultTable, metric: str) -> str:
    # Experiments report their own metrics as metric_<name>; the runner's columns
    # (ops_per_sec, aux, lat_p50_ns, ...) are plotted by their own names.
    prefixed = f"metric_{metric}"
    return prefixed if any(prefixed in r for r in table.rows) else metric


def _mark_cores(fig: go.Figure, table: ResultTable) -> None:
    # Only when every row agrees: tables merged from several machines have no one line.
    cores = {c for c in table.column("usable_cores") if c}
    if len(cores) == 1:
        c = cores.pop()
        fig.add_vline(x=c, line_dash="dot", line_color="gray",
                      annotation_text=f"{c} cores (x = oversubscribed)", annotation_position="top left")


def _thread_axis(fig: go.Figure, table: ResultTable, x: str) -> None:
    # Thread counts are integers: tick exactly the counts measured (never "1.5 threads");
    # any other parameter's values are categories.
    if x_key(x) == "threads":
        counts = sorted({t for t in table.column("threads") if t is not None})
        fig.update_xaxes(tickmode="array", tickvals=counts)
    else:
        fig.update_xaxes(type="category")


def metric_figure(table: ResultTable, metric: str, x: str = "threads", title: str | None = None,
                  ytitle: str | None = None, log: bool = False, *, scale: float = 1.0) -> go.Figure:
    """Median of ``metric`` per variant against ``x`` (threads or a parameter), min..max
    over repeats as error bars; broken variants dashed, oversubscribed points marked x.

    ``metric`` is an experiment metric (column ``metric_<metric>``) or a runner column
    such as ``ops_per_sec``; values are multiplied by ``scale`` (e.g. 1e-6 for Mops/s)."""
    col, ytitle = _column(table, metric), ytitle or metric
    fig = go.Figure()
    for i, (name, points) in enumerate(sorted(series(table, x).items())):
        # x values where no trial reported the metric are left out, not drawn as zero
        xs = sorted_x(v for v in points if any(r.get(col) is not None for r in points[v]))
        if not xs:
            continue
        samples = [np.array([r[col] for r in points[v] if r.get(col) is not None], float) * scale for v in xs]
        med = [float(np.median(a)) for a in samples]
        broken = any(r.get("broken") for v in xs for r in points[v])
        flat = any(ignores(r, x) for r in points[xs[0]])
        over = [any(r.get("oversubscribed") for r in points[v]) for v in xs]
        fig.add_trace(go.Scatter(
            x=xs, y=med, name=name + (" (broken)" if broken else ""), mode="lines+markers",
            line={"color": color(i), "dash": "dash" if broken else "dot" if flat else "solid"},
            marker={"symbol": ["x" if o else "circle" for o in over], "size": 9},
            error_y=min_max_error(samples, med),
            hovertemplate=f"%{{x}}: %{{y:,.4~r}} {ytitle}<extra>{name}</extra>"))
    if x_key(x) == "threads":
        _mark_cores(fig, table)
    _thread_axis(fig, table, x)
    if log:
        fig.update_yaxes(type="log")
    return base_layout(fig, title or f"{metric} (median, min..max of repeats)", x_title(x), ytitle)


def throughput_figure(table: ResultTable, x: str = "threads", title: str | None = None) -> go.Figure:
    """Median throughput (Mops/s) per variant against ``x`` (threads or a parameter), with
    the min..max over repeats as error bars; broken variants dashed; cores marked."""
    exp = table.rows[0]["experiment"] if table.rows else ""
    return metric_figure(table, "ops_per_sec", x, title=title or f"{exp} throughput (median, min..max of repeats)",
                         ytitle="Mops/s", scale=1e-6)


def latency_figure(table: ResultTable, x: str = "threads", title: str | None = None) -> go.Figure:
    """Sampled per-op latency percentiles (p50 solid, p99 dashed, p99.9 dotted), log scale."""
    fig = go.Figure()
    for i, (name, points) in enumerate(sorted(series(table, x).items())):
        xs = sorted_x(points)
        for col, dash in (("lat_p50_ns", "solid"), ("lat_p99_ns", "dash"), ("lat_p999_ns", "dot")):
            ys = [float(np.median([r[col] for r in points[v] if r.get(col) is not None] or [np.nan])) for v in xs]
            fig.add_trace(go.Scatter(x=xs, y=ys, name=f"{name} {col[4:-3]}", mode="lines+markers",
                                     line={"color": color(i), "dash": dash}))
    fig.update_yaxes(type="log")
    _thread_axis(fig, table, x)
    return base_layout(fig, title or "latency percentiles (sampled; include one clock read)", x_title(x), "ns per op")


def ratio_lines(table: ResultTable, numerator: str, denominators, by: str = "threads") -> str:
    """Text lines: median throughput of ``numerator`` over each of ``denominators`` at
    every value of ``by`` (threads or a param_ column) present for both."""
    rates = group((r for r in table.rows if r.get(by) is not None), "variant", by)
    median = {key: float(np.median([r["ops_per_sec"] for r in rows])) for key, rows in rates.items()}
    out = []
    for v in sorted({value for _, value in median}):
        if (numerator, v) not in median:
            continue
        parts = [f"{median[numerator, v] / median[d, v]:.2f}x {d}" for d in denominators if (d, v) in median]
        if parts:
            out.append(f"{by.removeprefix('param_')} {v}: {numerator} " + ", ".join(parts))
    return "\n".join(out)
