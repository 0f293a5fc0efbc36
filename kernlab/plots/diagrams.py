"""Diagrams that explain a mechanism rather than plot a measurement: where counters land
in cache lines, and how ShardManager sizes its shards."""
from __future__ import annotations

import plotly.graph_objects as go

from ._style import base_layout, color


def cache_line_picture(threads: int = 4, stride_bytes: int = 8, line_bytes: int = 64) -> go.Figure:
    """Where per-thread counters land in memory: one row per cache line, one box per
    thread's 8-byte slot. Slots sharing a row share a line: false sharing."""
    fig = go.Figure()
    for t in range(threads):
        line, offset = divmod(t * stride_bytes, line_bytes)
        fig.add_shape(type="rect", x0=offset, x1=offset + 8, y0=-line - 0.4, y1=-line + 0.4,
                      fillcolor=color(t), line_color="black")
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


def shard_profiles_figure(cpus=(1, 2, 4, 8, 16, 32, 64, 128, 256)) -> go.Figure:
    """ShardManager's shard count per workload profile against the CPU count: the
    catalogue's rule (4x / 2x / 1x CPUs, next power of two, clamped to 8..512)."""
    # Lazy: importing the primitive pulls in numba; the plots package must stay light.
    from ..primitives.shard_manager import PROFILES, ShardManager
    fig = go.Figure()
    for i, name in enumerate(PROFILES):
        fig.add_trace(go.Scatter(x=list(cpus), y=[ShardManager.shards(name, cpus=c) for c in cpus],
                                 name=name, mode="lines+markers", line={"color": color(i)}))
    fig.update_xaxes(type="log", tickvals=list(cpus))
    fig.update_yaxes(type="log", tickvals=[8, 16, 32, 64, 128, 256, 512])
    fig = base_layout(fig, "ShardManager: shards per workload profile", "CPUs", "shards")
    fig.update_layout(legend_title_text="profile")
    return fig
