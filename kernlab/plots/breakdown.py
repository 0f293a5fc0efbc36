"""How a cost builds up: variants that each add one step to the one before (as
``lookup_cost`` does), drawn as a waterfall of the nanoseconds per operation each step
adds, from each variant's median trial."""
from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ..tables import median_trial
from ._style import base_layout

if TYPE_CHECKING:
    from ..tables import ResultTable


def step_costs(table: ResultTable, steps=None) -> list[tuple[str, float, float]]:
    """``(step, ns per op in total, ns added by this step)`` in step order (default:
    the order the variants first appear), from each variant's median trial. Per thread:
    ns per op = threads / ops_per_sec."""
    steps = list(steps or dict.fromkeys(table.column("variant")))
    out, before = [], 0.0
    for step in steps:
        rows = table.where(variant=step).rows
        if not rows:
            raise ValueError(f"no rows for step '{step}'; the table has {sorted(set(table.column('variant')))}")
        r = median_trial(rows)
        total = r["threads"] * 1e9 / r["ops_per_sec"]
        out.append((step, total, total - before))
        before = total
    return out


def breakdown_lines(table: ResultTable, steps=None) -> str:
    """The waterfall as text: one line per step."""
    return "\n".join(f"{step:>12s}  +{added:6.2f} ns   = {total:6.2f} ns per op"
                     for step, total, added in step_costs(table, steps))


def breakdown_figure(table: ResultTable, steps=None, title: str | None = None) -> go.Figure:
    costs = step_costs(table, steps)
    fig = go.Figure(go.Waterfall(
        x=[s for s, _, _ in costs], y=[a for _, _, a in costs], measure=["relative"] * len(costs),
        text=[f"+{a:.2f}" for _, _, a in costs], textposition="outside",
        hovertemplate="%{x}: +%{y:.2f} ns<extra></extra>"))
    return base_layout(fig, title or "Where the nanoseconds go (median trial per step)",
                       "step (each adds one piece to the one before)", "ns per operation")
