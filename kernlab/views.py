"""Outputs below a panel that follow its runs.

A cell that draws ``panel.results`` once shows the first run for ever, however often the
panel runs again. A view is the cell's drawing function kept with its output instead:
every panel it watches redraws it when a run ends, and the panel's export writes it
too. ``joint_view`` watches several panels and hands ``fn`` all their results in one
table (a verdict that needs two sweeps).
"""
from __future__ import annotations

import html

import ipywidgets as W
from IPython.display import Pretty

from .tables import ResultTable


class View:
    def __init__(self, panels, fn):
        self.panels, self.fn = list(panels), fn
        self.out = W.Output()

    def results(self) -> ResultTable:
        joined = ResultTable()
        for panel in self.panels:
            joined.extend(panel.results)
        return joined

    def items(self) -> tuple:
        """What ``fn`` shows for the current results, as a tuple (empty before any run)."""
        results = self.results()
        if not results.rows:
            return ()
        try:
            shown = self.fn(results)
        except Exception as e:   # a cell's function meeting results it did not expect: say so, keep the panel
            return (f"this view could not be drawn from these results: {type(e).__name__}: {e}",)
        return shown if isinstance(shown, tuple) else (shown,)

    def draw(self) -> None:
        # append_display_data, not ``with out:``: a context manager captures the wrong
        # cell's output when entered from the panel's background thread.
        self.out.outputs = ()
        for item in self.items():
            self.out.append_display_data(Pretty(item) if isinstance(item, str) else item)


def joint_view(panels, fn) -> W.Output:
    """An output showing ``fn(results of all the panels, in one table)``, redrawn whenever
    any of them finishes a run; ``fn`` may return a figure, a verdict, text or a tuple."""
    view = View(panels, fn)
    for panel in view.panels:
        panel._views.append(view)
    view.draw()
    return view.out


def as_html(item) -> str:
    """A view item that is not a figure as an HTML fragment for an exported page."""
    if hasattr(item, "_repr_html_"):
        return item._repr_html_()
    return f"<pre>{html.escape(str(item))}</pre>"
