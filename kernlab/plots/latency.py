"""Latency as a distribution: the raw samples a run keeps (a bounded, evenly spaced
subset per thread), drawn as a log-x histogram, a CDF and per-thread tails.

Percentile lines hide the shape: two modes (a fast path and a slow one), a long tail
from one starving thread, a stall every millisecond. These figures show it. Every
sample includes one clock read (see ``machine.probe()['timer_overhead_ns']``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from ._style import base_layout, by_variant, color, point_rows, point_text

if TYPE_CHECKING:
    from ..tables import ResultTable

BINS_PER_DECADE = 12


def _samples(rows) -> tuple[np.ndarray, np.ndarray]:
    """Every raw sample of ``rows`` (all trials of one point) and the thread that took it."""
    values = [np.asarray(r.get("lat_raw_ns") or [], float) for r in rows]
    threads = [np.asarray(r.get("lat_raw_thread") or [], np.int64) for r in rows]
    return (np.concatenate(values) if values else np.zeros(0)), (np.concatenate(threads) if threads else np.zeros(0))


def _by_variant(table: ResultTable, threads, where) -> tuple[dict, str]:
    rows, picked = point_rows(table, threads, where)
    out = {}
    for name, vrows in by_variant(rows).items():
        values, tids = _samples(vrows)
        if len(values):
            out[name] = (values, tids)
    return out, point_text(picked)


def latency_histogram_figure(table: ResultTable, threads: int | None = None, title: str | None = None,
                             **where) -> go.Figure:
    """Share of sampled ops per latency bin (log-spaced bins), one line per variant, at
    one point (default: the most threads run; ``where`` picks parameter values)."""
    data, at = _by_variant(table, threads, where)
    fig = go.Figure()
    positive = [v[v > 0] for v, _ in data.values()]
    if positive and any(len(p) for p in positive):
        low = np.log10(max(min(p.min() for p in positive if len(p)), 1.0))
        high = np.log10(max(p.max() for p in positive if len(p)))
        edges = 10 ** np.linspace(np.floor(low), np.ceil(high) + 1e-9,
                                  int((np.ceil(high) - np.floor(low)) * BINS_PER_DECADE) + 2)
        for i, (name, (values, _)) in enumerate(data.items()):
            counts, _ = np.histogram(values[values > 0], edges)
            fig.add_trace(go.Scatter(x=edges[:-1], y=counts / max(counts.sum(), 1), name=name, mode="lines",
                                     line={"color": color(i), "shape": "hv"},
                                     hovertemplate="≥%{x:,.0f} ns: %{y:.2%} of samples<extra>" + name + "</extra>"))
    fig.update_xaxes(type="log")
    fig.update_yaxes(tickformat=".0%")
    return base_layout(fig, title or f"latency distribution (sampled ops{at})", "ns per op (log)", "share of samples")


def latency_cdf_figure(table: ResultTable, threads: int | None = None, title: str | None = None,
                       **where) -> go.Figure:
    """Fraction of sampled ops at or below each latency, one line per variant: the p50,
    p99 and p99.9 a reader wants are where the lines cross 0.5, 0.99 and 0.999."""
    data, at = _by_variant(table, threads, where)
    fig = go.Figure()
    for i, (name, (values, _)) in enumerate(data.items()):
        ordered = np.sort(values)
        fraction = np.arange(1, len(ordered) + 1) / len(ordered)
        fig.add_trace(go.Scatter(x=ordered, y=fraction, name=name, mode="lines", line={"color": color(i)},
                                 hovertemplate="%{y:.3f} of ops ≤ %{x:,.0f} ns<extra>" + name + "</extra>"))
    for q in (0.5, 0.99):
        fig.add_hline(y=q, line_dash="dot", line_color="gray", annotation_text=f"p{q * 100:g}")
    fig.update_xaxes(type="log")
    return base_layout(fig, title or f"latency CDF (sampled ops{at})", "ns per op (log)", "fraction of ops ≤ x")


def thread_tails_figure(table: ResultTable, threads: int | None = None, quantile: float = 0.99,
                        title: str | None = None, **where) -> go.Figure:
    """Each thread's own tail latency (default p99), bars grouped by variant: an unfair
    lock shows one thread waiting far longer than the others."""
    data, at = _by_variant(table, threads, where)
    fig = go.Figure()
    for i, (name, (values, tids)) in enumerate(data.items()):
        ids = sorted(set(tids.tolist()))
        tails = [float(np.quantile(values[tids == t], quantile)) for t in ids]
        fig.add_trace(go.Bar(x=[f"t{t}" for t in ids], y=tails, name=name, marker_color=color(i),
                             hovertemplate="%{x}: %{y:,.0f} ns<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log")
    return base_layout(fig, title or f"per-thread p{quantile * 100:g} latency{at}", "thread", "ns per op (log)")
