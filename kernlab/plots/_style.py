"""What every figure shares: colours, the page layout, how rows become series, and the
one rule for picking a representative trial.

Tables reach this package as anything with ``.rows`` (a list of dicts), ``.column(name)``
and ``.where(**equal)``; nothing here imports the table class at runtime, so figures draw
live runs, saved files and other machines' data alike.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..tables import ResultTable

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def base_layout(fig: go.Figure, title: str, xtitle: str, ytitle: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, template="plotly_white",
                      legend_title_text="variant", margin={"l": 60, "r": 20, "t": 60, "b": 50}, height=420)
    return fig


def x_key(x: str) -> str:
    """The row column behind an x axis name: ``threads`` itself, anything else a parameter."""
    return x if x == "threads" or x.startswith("param_") else f"param_{x}"


def x_title(x: str) -> str:
    return x_key(x).removeprefix("param_")


def sorted_x(values) -> list:
    # None (a parameter a row did not have) sorts last instead of failing the comparison.
    return sorted(values, key=lambda v: (v is None, v))


def group(rows, *keys) -> dict:
    """{(row[k] for k in keys): [rows]}, in first-seen order."""
    out = defaultdict(list)
    for r in rows:
        out[tuple(r.get(k) for k in keys)].append(r)
    return out


def series(table: ResultTable, x: str) -> dict:
    """{series name: {x value: [rows]}}; series are variants, split by thread count when
    x is a parameter and several thread counts were run (otherwise they would overlap)."""
    xk = x_key(x)
    split = xk != "threads" and len(set(table.column("threads"))) > 1
    out = defaultdict(lambda: defaultdict(list))
    for row in table.rows:
        name = row["variant"] + (f" x{row['threads']}" if split else "")
        out[name][row.get(xk)].append(row)
    return out


def min_max_error(samples, centres) -> dict:
    """plotly ``error_y`` from each centre to the min..max of its samples, so a single
    outlying trial stays visible instead of being averaged away."""
    return {"type": "data", "symmetric": False,
                "array": [float(np.max(a)) - c for a, c in zip(samples, centres, strict=True)],
                "arrayminus": [c - float(np.min(a)) for a, c in zip(samples, centres, strict=True)]}
