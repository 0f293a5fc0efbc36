"""The data path, drawn: the memory-hierarchy staircase (ns per record against the
working set, cache sizes from the table's provenance as vertical lines), the prefetch
distance curve, and a picture of a rule table laid out as structure of arrays in lanes."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from ._style import base_layout, color, group

if TYPE_CHECKING:
    from ..tables import ResultTable

_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _bytes(text) -> int | None:
    text = str(text or "").strip()
    if not text:
        return None
    scale = _UNITS.get(text[-1].upper(), 1)
    return int(float(text.rstrip("KMGkmg")) * scale)


def cache_levels(table: ResultTable) -> dict:
    """{"L1d": bytes, "L2": bytes, "L3": bytes} from the table's first machine that has them."""
    for machine in getattr(table, "provenance", []):
        caches = machine.get("caches") or {}
        levels = {k: _bytes(v) for k, v in caches.items() if not k.endswith("i")}
        if levels:
            return {k: v for k, v in levels.items() if v}
    return {}


def ns_per_record(rows) -> float:
    """Median ns per op of one thread (threads x 1e9 / total ops per second)."""
    return float(np.median([r["threads"] * 1e9 / r["ops_per_sec"] for r in rows if r["ops_per_sec"]]))


def staircase_figure(table: ResultTable, title: str | None = None) -> go.Figure:
    """ns per record against the working set (records x record_bytes, log axes), one line
    per variant (and record size when several were run); the cache sizes marked."""
    fig = go.Figure()
    sizes = {r.get("param_record_bytes") for r in table.rows}
    for i, ((variant, rb), rows) in enumerate(sorted(group(table.rows, "variant", "param_record_bytes").items(),
                                                      key=lambda kv: str(kv[0]))):
        by_size = {n: rs for (n,), rs in group(rows, "param_records").items()}
        xs = sorted(by_size)
        name = variant + (f" ({rb} B records)" if len(sizes) > 1 else "")
        fig.add_trace(go.Scatter(x=[n * rb for n in xs], y=[ns_per_record(by_size[n]) for n in xs],
                                 name=name, mode="lines+markers", line={"color": color(i)},
                                 customdata=xs, hovertemplate="%{customdata:,} records, %{x:.3s}B: "
                                                              "%{y:.1f} ns<extra>" + name + "</extra>"))
    for level, nbytes in cache_levels(table).items():
        fig.add_vline(x=nbytes, line_dash="dot", line_color="gray")
        # an annotation on a log axis takes log10 of its position (a shape takes the value)
        fig.add_annotation(x=np.log10(nbytes), y=1.0, yref="paper", text=level, showarrow=False,
                           xanchor="right", yanchor="bottom")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return base_layout(fig, title or "ns per record visited against the working set (caches dotted)",
                       "working set (bytes, log)", "ns per record (log)")


def distance_figure(table: ResultTable, title: str | None = None) -> go.Figure:
    """random_prefetch's ns per record against the prefetch distance, with random (no
    prefetch) as a horizontal line: where prefetching starts to pay and where it stops."""
    fig = go.Figure()
    pref = {d: rs for (d,), rs in group([r for r in table.rows if r["variant"] == "random_prefetch"],
                                          "param_prefetch_distance").items()}
    xs = sorted(pref)
    fig.add_trace(go.Scatter(x=xs, y=[ns_per_record(pref[d]) for d in xs], name="random_prefetch",
                             mode="lines+markers", line={"color": color(2)}))
    plain = [r for r in table.rows if r["variant"] == "random"]
    if plain:
        fig.add_hline(y=ns_per_record(plain), line_dash="dash", line_color=color(1),
                      annotation_text="random (no prefetch)", annotation_position="top right")
    return base_layout(fig, title or "Software prefetch: ns per record against the distance ahead",
                       "prefetch distance (records ahead)", "ns per record")


def rule_table_picture(rules: int = 20, lanes: int = 16,
                       fields=("subject", "kind", "action", "path", "length", "port", "effect")) -> go.Figure:
    """A rule table as structure of arrays: one row per field, one column per rule, the
    rules cut into blocks of ``lanes``; one vector compare covers one field of a block."""
    fig = go.Figure()
    padded = (rules + lanes - 1) // lanes * lanes
    for f, field in enumerate(fields):
        for r in range(padded):      # padding lanes (grey) never match: an empty length range
            fig.add_shape(type="rect", x0=r, x1=r + 0.9, y0=-f - 0.45, y1=-f + 0.45, line_color="white",
                          fillcolor=color(r // lanes) if r < rules else "lightgray", opacity=0.45 + 0.4 * (f == 0))
        fig.add_annotation(x=-0.5, y=-f, text=field, showarrow=False, xanchor="right")
    for b in range((rules + lanes - 1) // lanes):
        lo, hi = b * lanes, min((b + 1) * lanes, rules)
        padding = (b + 1) * lanes - hi
        fig.add_annotation(x=(lo + lo + lanes) / 2, y=0.9, showarrow=False,
                           text=f"block {b}: rules {lo}-{hi - 1}" + (f" + {padding} padding lanes" if padding else ""))
    fig.add_annotation(x=padded / 2, y=-len(fields) - 0.4, showarrow=False,
                       text="one vector compare = one field row of one block (the dark row);<br>"
                            "AND the rows' lane masks: the lowest set lane is the first match, its effect decides")
    fig.update_xaxes(visible=False, range=[-6, padded + 1])
    fig.update_yaxes(visible=False, range=[-len(fields) - 1.2, 1.4])
    fig.update_layout(title="A rule table as structure of arrays, in blocks of lanes", template="plotly_white",
                      height=140 + 40 * len(fields), showlegend=False, margin={"l": 20, "r": 20, "t": 50, "b": 20})
    return fig
