"""Time series inside one trial: a quantity sampled while the workers ran."""
from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ..tables import median_trial
from ._style import base_layout, color, group

if TYPE_CHECKING:
    from ..tables import ResultTable


def series_figure(table: ResultTable, name: str = "garbage", title: str | None = None) -> go.Figure:
    """A sampled series over time (``metric_<name>_series`` against ``_series_ms``), one
    line per variant x threads (the median trial: trials are not aligned in time, so
    they cannot be averaged), with the hard bound dotted when the rows report one
    (``metric_<name>_bound``)."""
    fig = go.Figure()
    rows = [r for r in table.rows if r.get(f"metric_{name}_series")]
    bounds = set()
    for i, ((variant, threads), trials) in enumerate(sorted(group(rows, "variant", "threads").items())):
        r = median_trial(trials)
        fig.add_trace(go.Scatter(x=r[f"metric_{name}_series_ms"], y=r[f"metric_{name}_series"],
                                 name=f"{variant} x{threads}", mode="lines",
                                 line={"color": color(i), "shape": "hv"}))
        if r.get(f"metric_{name}_bound") is not None:
            bounds.add(r[f"metric_{name}_bound"])
    for b in sorted(bounds):
        fig.add_hline(y=b, line_dash="dot", line_color="gray", annotation_text=f"bound {b}")
    return base_layout(fig, title or f"{name} outstanding over one trial (sampled by thread 0)",
                       "ms since the first sample", f"{name} outstanding")
