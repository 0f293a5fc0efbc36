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
    # showlegend: a single-variant chart still says which variant it is
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, template="plotly_white",
                      legend_title_text="variant", showlegend=True,
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, height=420)
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


def machine_of(row: dict) -> str:
    """The machine a row was measured on (rows from before the ``machine`` column: its CPU and cores)."""
    return row.get("machine") or f"{row.get('cpu_model', '?')} x{row.get('usable_cores', '?')}"


def ignores(row: dict, x: str) -> bool:
    """Whether the row's variant does not read the parameter on the x axis."""
    return x != "threads" and x.removeprefix("param_") in str(row.get("ignores") or "").split(",")


def series(table: ResultTable, x: str) -> dict:
    """{series name: {x value: [rows]}}; series are variants, split by thread count when
    x is a parameter and several thread counts were run (otherwise they would overlap),
    by any other parameter whose value differs between rows (a results file from a sweep
    plotted against threads), and by machine when the table holds several machines' rows
    (never merged into one line).
    A variant that does not read the x parameter is named so and spans every x value with
    its one measurement (a flat line: it is not a curve against that parameter)."""
    xk = x_key(x)
    split = xk != "threads" and len(set(table.column("threads"))) > 1
    machines = len({machine_of(r) for r in table.rows}) > 1
    others = [k for k in dict.fromkeys(k for r in table.rows for k in r if k.startswith("param_"))
              if k != xk and len({repr(r.get(k)) for r in table.rows if not ignores(r, k)}) > 1]
    out, flat = defaultdict(lambda: defaultdict(list)), defaultdict(list)
    for row in table.rows:
        name = row["variant"] + (f" x{row['threads']}" if split else "")
        name += "".join(f" {k.removeprefix('param_')}={row.get(k)}" for k in others if not ignores(row, k))
        name += f" @ {machine_of(row)}" if machines else ""
        if ignores(row, xk):
            flat[f"{name} (ignores {x_title(x)})"].append(row)
        else:
            out[name][row.get(xk)].append(row)
    xs = {v for points in out.values() for v in points} or {r.get(xk) for rows in flat.values() for r in rows}
    for name, rows in flat.items():
        out[name] = {v: rows for v in xs}
    return out


def by_variant(rows) -> dict:
    """{name: rows} per variant, in name order; split by machine (``variant @ machine``)
    when the rows come from several machines, so single-point figures never merge them."""
    machines = len({machine_of(r) for r in rows}) > 1
    out = defaultdict(list)
    for r in rows:
        out[r["variant"] + (f" @ {machine_of(r)}" if machines else "")].append(r)
    return dict(sorted(out.items()))


def min_max_error(samples, centres) -> dict:
    """plotly ``error_y`` from each centre to the min..max of its samples, so a single
    outlying trial stays visible instead of being averaged away."""
    return {"type": "data", "symmetric": False,
                "array": [float(np.max(a)) - c for a, c in zip(samples, centres, strict=True)],
                "arrayminus": [c - float(np.min(a)) for a, c in zip(samples, centres, strict=True)]}


def point_rows(table: ResultTable, threads: int | None = None, where: dict | None = None) -> tuple[list, dict]:
    """The rows of one measured point, for figures that show a single point: ``threads``
    (default the most run) and, for every parameter that varies, the value in ``where``
    (default its largest). Returns the rows and the point that was picked."""
    rows = list(table.rows)
    if not rows:
        return [], {}
    picked = {"threads": threads or max(r["threads"] for r in rows)}
    for name, value in (where or {}).items():
        picked[x_key(name)] = value
    varying = [k for k in dict.fromkeys(k for r in rows for k in r if k.startswith("param_"))
               if k not in picked and len({repr(r.get(k)) for r in rows}) > 1]
    for k in varying:
        picked[k] = max(v for r in rows if (v := r.get(k)) is not None)
    chosen = [r for r in rows if all(r.get(k) == v for k, v in picked.items())]
    return chosen, picked


def point_text(picked: dict) -> str:
    """`` at 2 threads, read_ratio=0.99``: which point a single-point figure shows."""
    if not picked:
        return ""
    parts = [f"{picked['threads']} thread{'s' if picked['threads'] != 1 else ''}"]
    parts += [f"{k.removeprefix('param_')}={v}" for k, v in picked.items() if k != "threads"]
    return " at " + ", ".join(parts)
