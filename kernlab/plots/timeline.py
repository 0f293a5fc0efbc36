"""What the threads did over time: a Gantt chart of one traced trial (``trace=N`` in a
run keeps each thread's last N events in a ring: lock waits and holds, writer windows,
reads that had to retry, waits for a grace period, epoch advances; see
``kernlab.harness``, trace mode).

The chart shows the span in which *every* thread's events were kept: a busy thread's
ring wraps and loses its older events sooner, and earlier events of the others would
look like that thread had not been working yet. (A thread whose ring never wrapped kept
everything and limits nothing.)
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..tables import ResultTable, median_trial
from ._style import base_layout, machine_of, point_rows, point_text

# kind -> (name, colour); the numbers are kernlab.harness's WAIT, HOLD, WRITE, RETRY, GRACE
KINDS = {1: ("wait", "#c7c7c7"), 2: ("hold", "#d62728"), 3: ("write", "#ff7f0e"),
         4: ("read retried", "#9467bd"), 5: ("grace-period wait", "#2ca02c"), 6: ("epoch advance", "#1f77b4")}


def traced_rows(table: ResultTable) -> list:
    return [r for r in table.rows if r.get("trace_kind")]


def trace_events(row: dict) -> np.ndarray:
    """One row's events as an (n, 4) array: thread, kind, begin_ns, end_ns."""
    return np.column_stack([np.asarray(row[c], np.int64) for c in
                            ("trace_thread", "trace_kind", "trace_begin_ns", "trace_end_ns")])


def common_window(events: np.ndarray, capacity: int = 0) -> tuple[int, int]:
    """From the latest first kept event of a thread whose ring wrapped (``capacity``
    events kept; 0: treat every thread as wrapped) to the last event."""
    if not len(events):
        return 0, 0
    threads, counts = np.unique(events[:, 0], return_counts=True)
    full = [t for t, c in zip(threads, counts, strict=True) if not capacity or c >= capacity]
    first = max((events[events[:, 0] == t, 2].min() for t in full), default=events[:, 2].min())
    return int(first), int(events[:, 3].max())


def timeline_figure(table: ResultTable, variant: str | None = None, threads: int | None = None,
                    window_us: float | None = None, title: str | None = None, **where) -> go.Figure:
    """Gantt chart of the median traced trial of ``variant`` (default: the first traced
    one) at one point; ``window_us`` shows only the first microseconds of it."""
    rows, picked = point_rows(ResultTable(traced_rows(table)), threads, where)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    variant = variant or (variants[0] if variants else None)
    fig = go.Figure()
    unit = "µs"
    chosen = [r for r in rows if r["variant"] == variant]
    machines = list(dict.fromkeys(machine_of(r) for r in chosen))
    if len(machines) > 1:   # one trial is drawn: name its machine rather than pick among several silently
        chosen = [r for r in chosen if machine_of(r) == machines[0]]
        picked["machine"] = machines[0]
    if chosen:
        row = median_trial(chosen)
        events = trace_events(row)
        begin, end = common_window(events, int(row.get("trace_capacity") or 0))
        if window_us is not None:
            end = min(end, begin + int(window_us * 1e3))
        # events overlapping the window, clipped to it: a wait that began earlier still shows
        shown = events[(events[:, 2] < end) & (events[:, 3] > begin)].copy()
        shown[:, 2:] = np.clip(shown[:, 2:], begin, end)
        scale, unit = (1e6, "ms") if end - begin > 20e6 else (1e3, "µs")
        for kind, (name, colour) in KINDS.items():
            ev = shown[shown[:, 1] == kind]
            if not len(ev):
                continue
            x = np.full(3 * len(ev), np.nan)
            y = np.full(3 * len(ev), np.nan)
            x[0::3], x[1::3] = (ev[:, 2] - begin) / scale, (np.maximum(ev[:, 3], ev[:, 2] + 50) - begin) / scale
            y[0::3] = y[1::3] = ev[:, 0]
            fig.add_trace(go.Scattergl(x=x, y=y, mode="lines", name=name, line={"color": colour, "width": 14},
                                       hoverinfo="skip"))
        count = int(picked.get("threads") or 1)
        fig.update_yaxes(tickmode="array", tickvals=list(range(count)), ticktext=[f"t{t}" for t in range(count)],
                         range=[count - 0.5, -0.5])
    at = point_text(picked)
    fig = base_layout(fig, title or f"timeline: {variant}{at}", f"{unit} since the first traced event", "thread")
    fig.update_layout(legend_title_text="event")
    return fig


def timeline_lines(table: ResultTable) -> str:
    """Per traced variant and thread count: events of each kind, and the longest wait."""
    out = []
    groups: dict = {}
    for r in traced_rows(table):
        groups.setdefault((r["variant"], r["threads"]), []).append(r)
    for (variant, threads), rows in groups.items():
        events = trace_events(median_trial(rows))
        counts = ", ".join(f"{int((events[:, 1] == k).sum())} {name}" for k, (name, _) in KINDS.items()
                           if (events[:, 1] == k).any())
        waits = events[events[:, 1] == 1]
        longest = f"; longest wait {(waits[:, 3] - waits[:, 2]).max() / 1e3:,.1f} µs" if len(waits) else ""
        out.append(f"{variant} x{threads}: {counts}{longest}")
    return "\n".join(out)
