"""How a cost builds up: variants that each add one step to the one before (as
``lookup_cost`` does), drawn as a waterfall of the nanoseconds per operation each step
adds, from each variant's median trial; and how a gain splits over switches (as
``syscall_mix``'s without_X variants measure it)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
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


def switch_contributions(table: ResultTable, metric: str = "ops_per_sec", baseline: str = "baseline",
                         full: str = "optimized", prefix: str = "without_") -> list[tuple[str, float]]:
    """What each switch adds to ``metric`` when all the others are on: ``full`` minus
    ``prefix + switch`` (medians over trials), for every switch measured, in order; then
    ``"together"``: what the switches add beyond the sum of their shares (interaction),
    so that baseline + every share = full."""
    def median(variant):
        values = [r[metric] for r in table.where(variant=variant).rows if r.get(metric) is not None]
        return float(np.median(values)) if values else None
    top, bottom = median(full), median(baseline)
    if top is None or bottom is None:
        return []
    shares = [(v.removeprefix(prefix), top - m) for v in dict.fromkeys(table.column("variant"))
              if v.startswith(prefix) and (m := median(v)) is not None]
    return shares + [("together", top - bottom - sum(s for _, s in shares))]


def contributions_figure(table: ResultTable, metric: str = "ops_per_sec", scale: float = 1e-6,
                         unit: str = "Mops/s", title: str | None = None) -> go.Figure:
    """A waterfall from the baseline to the optimized variant: each switch's share of the
    difference (optimized minus optimized-without-it), then the interaction."""
    shares = switch_contributions(table, metric)
    values = [r[metric] for r in table.where(variant="baseline").rows if r.get(metric) is not None]
    start = float(np.median(values)) * scale if values else 0.0
    fig = go.Figure(go.Waterfall(
        x=["baseline"] + [s for s, _ in shares] + ["optimized"],
        y=[start] + [v * scale for _, v in shares] + [0],
        measure=["absolute"] + ["relative"] * len(shares) + ["total"],
        text=[f"{start:,.3g}"] + [f"{v * scale:+,.3g}" for _, v in shares] + [""], textposition="outside",
        hovertemplate="%{x}: %{y:,.4g}<extra></extra>"))
    return base_layout(fig, title or f"each switch's share of {metric} (optimized minus without it)",
                       "switch", unit)
