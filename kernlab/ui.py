"""The widget panel, generated from an experiment's declaration.

``Panel("counter")`` builds controls for the variants, thread counts, duration, repeats
and every declared parameter, a Run and a Stop button, a progress bar, live plotly
figures (throughput and fairness) and export buttons (chart as self-contained HTML or
PNG/SVG when a browser is present; data as CSV).

Runs happen on a background thread so the notebook stays responsive and Stop works:
it sets the runner's cancel event, which stops every worker within one operation. In
code (and tests): set widget values, then ``panel.run_button.click()`` and ``panel.wait()``.
"""
from __future__ import annotations

import os
import threading
import time

import ipywidgets as W
import plotly.graph_objects as go

from .declaration import Experiment, Param, ParamError
from .experiments import get
from .machine import usable_cores
from .plots import ExportError, export_figure, fairness_figure, throughput_figure
from .runner import Cancelled
from .sweeps import sweep
from .tables import ResultTable


def param_widget(p: Param) -> W.Widget:
    """One control per parameter, chosen from its declaration."""
    common = dict(description=p.name, tooltip=p.help, style={"description_width": "initial"})
    if p.choices is not None:
        return W.Dropdown(options=list(p.choices), value=p.default, **common)
    if p.kind is bool:
        return W.Checkbox(value=bool(p.default), indent=False, **common)
    if p.kind is int and p.low is not None and p.high - p.low <= 1000 and not p.log_scale:
        return W.IntSlider(value=p.default, min=p.low, max=p.high, **common)
    if p.kind is int:
        return W.BoundedIntText(value=p.default, min=p.low if p.low is not None else -2**62,
                                max=p.high if p.high is not None else 2**62, **common)
    if p.kind is float:
        return W.BoundedFloatText(value=p.default, min=p.low if p.low is not None else -1e300,
                                  max=p.high if p.high is not None else 1e300, **common)
    return W.Text(value=str(p.default), **common)


def facts_table(facts: dict) -> W.HTML:
    """A dict (e.g. machine.probe()) as a two-column table."""
    rows = "".join(f"<tr><td style='text-align:left'><b>{k}</b></td><td style='text-align:left'>{v}</td></tr>"
                   for k, v in facts.items())
    return W.HTML(f"<table>{rows}</table>")


def _row(*children) -> W.HBox:
    """A row of controls that wraps onto the next line in a narrow window, instead of
    pushing the last controls off the right edge with no hint."""
    return W.HBox(list(children), layout=W.Layout(flex_flow="row wrap"))


class Panel:
    def __init__(self, experiment: Experiment | str, variants=None, threads=None, x: str = "threads",
                 duration: float = 0.5, repeats: int = 3, export_dir: str = "exports"):
        self.exp = get(experiment) if isinstance(experiment, str) else experiment
        self.export_dir = export_dir
        self.results = ResultTable()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

        cores = usable_cores()
        names = self.exp.variant_names()
        labels = [(f"{v.name} (broken)" if v.broken else v.name, v.name) for v in self.exp.variants]
        self.variants = W.SelectMultiple(options=labels, value=tuple(variants or self.exp.default_variants or names),
                                         description="variants", rows=min(len(names), 8))
        thread_options = sorted({1, 2, 3, 4, 6, 8, 12, 16, cores, 2 * cores} | set(threads or ()))
        self.threads = W.SelectMultiple(options=thread_options,
                                        value=tuple(threads or sorted({1, 2, cores} & set(thread_options))),
                                        description="threads", rows=6,
                                        tooltip=f"{cores} usable cores here; more threads oversubscribe")
        self.duration = W.FloatSlider(value=duration, min=0.02, max=5.0, step=0.01, description="seconds",
                                      tooltip="duration of one trial", readout_format=".2f")
        self.repeats = W.IntSlider(value=repeats, min=1, max=10, description="repeats",
                                   tooltip="counted trials per point; the chart shows median and min..max")
        self.params = {p.name: param_widget(p) for p in self.exp.params}
        axes = ["threads"] + [p.name for p in self.exp.params if p.choices is not None]
        self.x = W.Dropdown(options=axes, value=x, description="x axis",
                            tooltip="sweep thread counts, or every value of a parameter")
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = W.HTML(value="ready")
        self.figure = go.FigureWidget(throughput_figure(self.results, x))
        self.fairness = go.FigureWidget(fairness_figure(self.results))
        self.export_html = W.Button(description="chart → HTML", icon="download")
        self.export_png = W.Button(description="chart → PNG", icon="image")
        self.export_svg = W.Button(description="chart → SVG", icon="image")
        self.export_csv = W.Button(description="data → CSV", icon="table")
        self.export_status = W.HTML()

        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.export_html.on_click(lambda _: self.export("html"))
        self.export_png.on_click(lambda _: self.export("png"))
        self.export_svg.on_click(lambda _: self.export("svg"))
        self.export_csv.on_click(lambda _: self.export("csv"))

        help_lines = "".join(f"<li><b>{p.name}</b>: {p.help} ({p.allowed()})</li>" for p in self.exp.params)
        self.widget = W.VBox([
            W.HTML(f"<b>{self.exp.title}</b><br>{self.exp.help}<ul>{help_lines}</ul>"),
            _row(self.variants, self.threads),
            _row(self.duration, self.repeats, self.x),
            _row(*self.params.values()),
            _row(self.run_button, self.stop_button, self.progress, self.status),
            self.figure, self.fairness,
            _row(self.export_html, self.export_png, self.export_svg, self.export_csv, self.export_status),
        ])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    # ------------------------------------------------------------------ running
    def current_params(self) -> dict:
        return {name: w.value for name, w in self.params.items()}

    def start(self) -> None:
        """Run the selected sweep on a background thread (the Run button)."""
        if self.running:
            return
        try:
            variants, threads = list(self.variants.value), sorted(self.threads.value)
            if not variants or not threads:
                raise ParamError("choose at least one variant and one thread count")
            params = self.exp.resolve_params(self.current_params())
        except ParamError as e:
            self.status.value = f"<span style='color:#b00'>{e}</span>"
            return
        self.results = ResultTable()
        self.error = None
        self._cancel.clear()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self._thread = threading.Thread(target=self._work, args=(variants, threads, params),
                                        daemon=True, name="kernlab-panel")
        self._thread.start()

    def _work(self, variants, threads, params):
        x = self.x.value
        sweep_param = None if x == "threads" else x
        started = time.monotonic()
        try:
            sweep(self.exp, variants, threads, params=params, sweep_param=sweep_param,
                  duration=self.duration.value, repeats=self.repeats.value, progress=False,
                  on_point=self._on_point, cancel=self._cancel)
            self.status.value = f"done in {time.monotonic() - started:.1f} s: {self._check_summary()}"
        except Cancelled:
            self.status.value = "stopped: every worker has ended; partial results kept"
        except BaseException as e:  # shown in the panel; the notebook keeps running
            self.error = e
            self.status.value = f"<span style='color:#b00'>error: {type(e).__name__}: {e}</span>"
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _on_point(self, i, total, result, table):
        self.results = table
        self.progress.max, self.progress.value = total, i + 1
        self.status.value = f"{result.variant} x{result.threads}: {result.ops_per_sec / 1e6:,.1f} Mops/s"
        self._redraw()

    def _redraw(self):
        for widget, fig in ((self.figure, throughput_figure(self.results, self.x.value)),
                            (self.fairness, fairness_figure(self.results))):
            with widget.batch_update():
                widget.data = []
                widget.add_traces(list(fig.data))
                widget.layout = fig.layout

    def _check_summary(self) -> str:
        failed = sorted({f"{r['variant']} x{r['threads']}" for r in self.results.rows if not r["check_passed"]})
        return "all checks passed" if not failed else "check FAILED for " + ", ".join(failed)

    def stop(self) -> None:
        """Stop the run: workers end within one operation (the Stop button)."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> ResultTable:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.results

    def run(self) -> ResultTable:
        """Run and wait (for scripts and tests)."""
        self.start()
        return self.wait()

    # ------------------------------------------------------------------ export
    def export(self, kind: str) -> str | None:
        """Write the chart (html/png/svg) or the data (csv) into ``export_dir``."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = os.path.join(self.export_dir, f"{self.exp.name}-{stamp}.{kind}")
        try:
            if kind == "csv":
                self.results.save(path)
            else:
                export_figure(self.figure, path)
        except ExportError as e:
            path = export_figure(self.figure, path.rsplit(".", 1)[0] + ".html")
            self.export_status.value = f"{e}; wrote {path} instead"
            return path
        self.export_status.value = f"wrote {path}"
        return path
