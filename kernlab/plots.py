"""Pure figure builders: results table in, plotly figure out; plus export.

Nothing here runs an experiment, so the same functions draw live runs, saved CSV
files and data measured on other machines.
"""
from __future__ import annotations

import os
import shutil
from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from .results import ResultTable

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


class ExportError(RuntimeError):
    """A static image could not be written (no browser for kaleido)."""


def _x_key(x: str) -> str:
    return x if x in ("threads",) or x.startswith("param_") else f"param_{x}"


def _series(table: ResultTable, x: str):
    """{series name: {x value: [rows]}}; series are variants, split by thread count
    when x is a parameter and several thread counts were run."""
    xk = _x_key(x)
    split = xk != "threads" and len(set(table.column("threads"))) > 1
    out = defaultdict(lambda: defaultdict(list))
    for row in table.rows:
        name = row["variant"] + (f" x{row['threads']}" if split else "")
        out[name][row.get(xk)].append(row)
    return out


def _base_layout(fig, title, xtitle, ytitle):
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, template="plotly_white",
                      legend_title_text="variant", margin=dict(l=60, r=20, t=60, b=50), height=420)
    return fig


def throughput_figure(table: ResultTable, x: str = "threads", title: str | None = None) -> go.Figure:
    """Median throughput per variant against ``x`` (threads or a parameter), with the
    min..max over repeats as error bars; broken variants dashed; cores marked."""
    fig = go.Figure()
    for i, (name, points) in enumerate(sorted(_series(table, x).items())):
        xs = sorted(points, key=lambda v: (v is None, v))
        rates = [np.array([r["ops_per_sec"] for r in points[v]]) / 1e6 for v in xs]
        med = [float(np.median(r)) for r in rates]
        broken = any(r.get("broken") for v in xs for r in points[v])
        over = [any(r.get("oversubscribed") for r in points[v]) for v in xs]
        fig.add_trace(go.Scatter(
            x=xs, y=med, name=name + (" (broken)" if broken else ""), mode="lines+markers",
            line=dict(color=PALETTE[i % len(PALETTE)], dash="dash" if broken else "solid"),
            marker=dict(symbol=["x" if o else "circle" for o in over], size=9),
            error_y=dict(type="data", symmetric=False,
                         array=[float(r.max()) - m for r, m in zip(rates, med)],
                         arrayminus=[m - float(r.min()) for r, m in zip(rates, med)]),
            hovertemplate="%{x}: %{y:.1f} Mops/s<extra>" + name + "</extra>"))
    xk = _x_key(x)
    cores = {p.get("usable_cores") for p in table.provenance if p.get("usable_cores")}
    if xk == "threads" and len(cores) == 1:
        c = cores.pop()
        fig.add_vline(x=c, line_dash="dot", line_color="gray",
                      annotation_text=f"{c} cores (x = oversubscribed)", annotation_position="top left")
    if xk != "threads":
        fig.update_xaxes(type="category")
    exp = table.rows[0]["experiment"] if table.rows else ""
    return _base_layout(fig, title or f"{exp} throughput (median, min..max of repeats)",
                        "threads" if xk == "threads" else xk.removeprefix("param_"), "Mops/s")


def fairness_figure(table: ResultTable, threads: int | None = None, title: str | None = None) -> go.Figure:
    """Operations done by each thread, per variant, at one thread count (default: the
    largest run): equal bars mean a fair primitive, one tall bar a starving one."""
    fig = go.Figure()
    if table.rows:
        threads = threads or max(table.column("threads"))
        rows = table.where(threads=threads).rows
        by_variant = defaultdict(list)
        for r in rows:
            by_variant[r["variant"]].append(r)
        for i, (name, rs) in enumerate(sorted(by_variant.items())):
            best = sorted(rs, key=lambda r: r["ops_per_sec"])[(len(rs) - 1) // 2]  # median trial
            ops = np.array(best["per_thread_ops"], dtype=float)
            share = ops / ops.sum() if ops.sum() else ops
            fig.add_trace(go.Bar(x=[f"t{j}" for j in range(len(ops))], y=share, name=name,
                                 marker_color=PALETTE[i % len(PALETTE)],
                                 hovertemplate="%{x}: %{y:.1%} of ops<extra>" + name + "</extra>"))
        fig.add_hline(y=1 / threads, line_dash="dot", line_color="gray", annotation_text="fair share")
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%")
    return _base_layout(fig, title or f"fairness: share of operations per thread ({threads} threads)",
                        "thread", "share of ops")


def latency_figure(table: ResultTable, x: str = "threads", title: str | None = None) -> go.Figure:
    """Sampled per-op latency percentiles (p50 solid, p99 dashed, p99.9 dotted), log scale."""
    fig = go.Figure()
    for i, (name, points) in enumerate(sorted(_series(table, x).items())):
        xs = sorted(points, key=lambda v: (v is None, v))
        for col, dash in (("lat_p50_ns", "solid"), ("lat_p99_ns", "dash"), ("lat_p999_ns", "dot")):
            ys = [float(np.median([r[col] for r in points[v] if r.get(col) is not None] or [np.nan])) for v in xs]
            fig.add_trace(go.Scatter(x=xs, y=ys, name=f"{name} {col[4:-3]}", mode="lines+markers",
                                     line=dict(color=PALETTE[i % len(PALETTE)], dash=dash)))
    fig.update_yaxes(type="log")
    if _x_key(x) != "threads":
        fig.update_xaxes(type="category")
    return _base_layout(fig, title or "latency percentiles (sampled; include one clock read)",
                        x, "ns per op")


def cache_line_picture(threads: int = 4, stride_bytes: int = 8, line_bytes: int = 64) -> go.Figure:
    """Where per-thread counters land in memory: one row per cache line, one box per
    thread's 8-byte slot. Slots sharing a row share a line: false sharing."""
    fig = go.Figure()
    for t in range(threads):
        addr = t * stride_bytes
        line, offset = divmod(addr, line_bytes)
        fig.add_shape(type="rect", x0=offset, x1=offset + 8, y0=-line - 0.4, y1=-line + 0.4,
                      fillcolor=PALETTE[t % len(PALETTE)], line_color="black")
        fig.add_annotation(x=offset + 4, y=-line, text=f"t{t}", showarrow=False, font_color="white")
    lines = (threads - 1) * stride_bytes // line_bytes + 1
    for line in range(lines):
        fig.add_shape(type="rect", x0=0, x1=line_bytes, y0=-line - 0.5, y1=-line + 0.5, line_color="gray")
    fig.update_xaxes(range=[-2, line_bytes + 2], title=f"byte offset in a {line_bytes}-byte cache line")
    fig.update_yaxes(range=[-lines + 0.3, 0.7], tickvals=[-i for i in range(lines)],
                     ticktext=[f"line {i}" for i in range(lines)])
    fig.update_layout(title=f"{threads} per-thread counters, {stride_bytes} bytes apart",
                      height=120 + 60 * min(lines, 8), template="plotly_white", showlegend=False)
    return fig


def browser_available() -> bool:
    return bool(os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
                or shutil.which("google-chrome"))


def export_figure(fig: go.Figure, path: str) -> str:
    """Write ``fig`` by extension: .html is self-contained (plotly.js embedded, works
    offline); .png/.svg/.pdf need kaleido and a Chromium on PATH (ExportError if not)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if path.endswith(".html"):
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        return path
    if not browser_available():
        raise ExportError("static export needs Chromium on PATH (apt-get install chromium); "
                          "export .html instead, it needs nothing")
    try:
        fig.write_image(path)
    except Exception as e:  # kaleido reports a missing or broken browser in many ways
        raise ExportError(f"static export failed ({type(e).__name__}: {e}); export .html instead") from None
    return path
