"""The widget panel, generated from an experiment's declaration.

``Panel("process_table")`` builds controls for the variants, thread counts, duration,
repeats, pinning and every declared parameter; any numeric parameter (or one with fixed
choices) can be the x axis, swept over the values typed in the values box, with thread
counts as a second series dimension. It owns its figures (throughput, fairness, latency
distribution, a pattern metric) and the verdicts on the experiment's claims, and
redraws all of them after every measured point; ``panel.view(fn)`` adds an output that
is redrawn the same way, so nothing below a panel goes stale. "hold" keeps a run as a
dashed overlay to compare the next one with. Export writes every figure and the data,
and offers each file as a download in the browser.

Runs happen on a background thread so the notebook stays responsive and Stop works (the
kernel shows "Idle" meanwhile; the panel says it is running). Stop sets the runner's
cancel event, which stops every worker within one operation. In code (and tests): set
widget values, then ``panel.run_button.click()`` and ``panel.wait()``.

(This module is longer than 350 lines because a panel is one object: its controls, the
run on a background thread, its figures and its export share one state.)
"""
from __future__ import annotations

import os
import threading
import time

import ipywidgets as W
import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure

from .controls import (
    download_links,
    param_widget,
    parse_values,
    range_note,
    row,
    suggested_values,
    sweepable,
    values_text,
)
from .declaration import Experiment, ParamError
from .experiments import get
from .machine import usable_cores
from .plots import (
    ExportError,
    export_figure,
    export_page,
    fairness_figure,
    latency_histogram_figure,
    metric_figure,
    throughput_figure,
    timeline_figure,
)
from .runner import Cancelled
from .sweeps import sweep
from .tables import ResultTable
from .views import as_html, joint_view

_ERROR = "<span style='color:#b00'>{}</span>"
X_SCALES = ("auto", "category", "linear", "log")
TRACE_EVENTS = 20_000       # per thread and trial, when the panel traces
REDRAW_EVERY_S = 2.0        # while a run goes on, figures redraw at most this often


class Panel:
    def __init__(self, experiment: Experiment | str, variants=None, threads=None, x: str = "threads",
                 values=None, duration: float = 0.5, repeats: int = 3, export_dir: str = "exports"):
        self.exp = get(experiment) if isinstance(experiment, str) else experiment
        self.export_dir = export_dir
        self.results = ResultTable()
        self.held: ResultTable | None = None
        self.error: BaseException | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._views: list = []
        self._quiet = False
        self._drawn_at = 0.0

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
        self.pin = W.Dropdown(options=["none", "compact", "scattered"], value="none", description="pinning",
                              tooltip="none: the OS places threads; compact: neighbouring CPUs (SMT siblings "
                                      "first); scattered: one core each, across packages")
        self.trace = W.Checkbox(value=False, indent=False, description="trace a timeline",
                                tooltip=f"keep each thread's last {TRACE_EVENTS:,} events (lock waits and holds, "
                                        "writer windows, retries); costs a clock read per event")
        self.switches = {name: W.Checkbox(value=True, indent=False, description=name,
                                          tooltip=f"{name}: the optimised pattern (on) or the baseline's (off)")
                         for name in self.exp.switches}
        for w in self.switches.values():
            w.observe(lambda _: self._on_switches(), "value")
        self.params = {p.name: param_widget(p) for p in self.exp.params}
        self.param_note = W.HTML()
        for w in self.params.values():
            w.observe(lambda _: self._note_ranges(), "value")
        self.x = W.Dropdown(options=["threads"] + [p.name for p in self.exp.params if sweepable(p)], value=x,
                            description="x axis", tooltip="sweep thread counts, or the values of a parameter")
        self.values = W.Text(description="values", placeholder="comma-separated", continuous_update=False,
                             tooltip="the swept parameter's values (thread counts stay series)")
        self.x_scale = W.Dropdown(options=X_SCALES, value="auto", description="x scale",
                                  tooltip="auto: threads linear, parameters as evenly spaced categories")
        self.x.observe(lambda _: self._on_x_change(), "value")
        self._on_x_change(values)
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.hold = W.ToggleButton(description="hold", icon="thumb-tack",
                                   tooltip="keep the current results as a dashed overlay for the next run")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = W.HTML(value="ready")
        self.metric = W.Dropdown(options=[], description="metric", tooltip="a metric the experiment reports")
        self.figure = go.FigureWidget(throughput_figure(self.results, x))
        self.fairness = go.FigureWidget(fairness_figure(self.results))
        self.latency = go.FigureWidget(latency_histogram_figure(self.results))
        self.metric_figure = go.FigureWidget(go.Figure())
        self.timeline = go.FigureWidget(go.Figure())
        self.verdicts = W.HTML()
        self.export_buttons = {kind: W.Button(description=label, icon=icon) for kind, label, icon in (
            ("html", "figures → HTML", "download"), ("png", "figures → PNG", "image"),
            ("svg", "figures → SVG", "image"), ("csv", "data → CSV", "table"))}
        self.export_status = W.HTML()
        self.exported: list[str] = []

        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.hold.observe(lambda change: self._on_hold(change["new"]), "value")
        self.metric.observe(lambda _: self._redraw(), "value")
        for kind, button in self.export_buttons.items():
            button.on_click(lambda _, kind=kind: self.export(kind))

        help_lines = "".join(f"<li><b>{p.name}</b>: {p.help} ({p.allowed()})</li>" for p in self.exp.params)
        self.widget = W.VBox([
            W.HTML(f"<b>{self.exp.title}</b><br>{self.exp.help}<ul>{help_lines}</ul>"),
            row(self.variants, self.threads),
            row(self.duration, self.repeats, self.pin, self.trace),
            row(self.x, self.values, self.x_scale),
            *([W.HTML("<b>switches</b> (checked: the pattern is on; Run compares your mix with the baseline)"),
               row(*self.switches.values())] if self.switches else []),
            row(*self.params.values()), self.param_note,
            row(self.run_button, self.stop_button, self.hold, self.progress, self.status),
            self.figure, self.fairness, self.latency, self.metric, self.metric_figure, self.timeline, self.verdicts,
            row(*self.export_buttons.values(), self.export_status),
        ])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    # ------------------------------------------------------------------ controls
    def _on_x_change(self, values=None):
        x = self.x.value
        for name, w in self.params.items():  # the swept parameter's own control means nothing now
            w.disabled = name == x
        self.values.disabled = x == "threads"
        if x == "threads":
            self.values.value = ""
        else:
            self.values.value = values_text(values if values is not None else suggested_values(self.exp.param(x)))

    def _on_switches(self):
        """The checked switches name a variant: select it beside the baseline, adding it to
        the list first when it is a combination the list does not hold."""
        name = self.exp.combination({n for n, w in self.switches.items() if w.value})
        self.exp.variant(name)
        if name not in [value for _, value in self.variants.options]:
            self.variants.options = [*self.variants.options, (name, name)]
        self.variants.value = tuple(dict.fromkeys(("baseline", name)))
        self.status.value = (f"your mix is <b>{name}</b>; Run compares it with the baseline "
                             "(a new combination compiles on its first run)")

    def _note_ranges(self):
        notes = [n for name, w in self.params.items() if (n := range_note(self.exp.param(name), w.value))]
        self.param_note.value = _ERROR.format("; ".join(notes) + " (Run refuses it)") if notes else ""

    def _on_hold(self, on: bool):
        self.held = ResultTable(list(self.results.rows), list(self.results.provenance)) if on else None
        self._redraw()

    def view(self, fn) -> W.Output:
        """An output showing ``fn(results)`` (a figure, a verdict, text, or a tuple of
        them), redrawn after every run of this panel, so a cell below the panel never
        shows stale results; export writes it with the panel's own figures."""
        return joint_view([self], fn)

    # ------------------------------------------------------------------ running
    def current_params(self) -> dict:
        return {name: w.value for name, w in self.params.items()}

    def _plan(self):
        variants, threads = list(self.variants.value), sorted(self.threads.value)
        if not variants or not threads:
            raise ParamError("choose at least one variant and one thread count")
        x = self.x.value
        current = {k: v for k, v in self.current_params().items() if k != x}
        params = self.exp.resolve_params(current)
        values = None if x == "threads" else parse_values(self.exp.param(x), self.values.value)
        return variants, threads, params, values

    def start(self) -> None:
        """Run the selected sweep on a background thread (the Run button)."""
        if self.running:
            return
        try:
            plan = self._plan()
        except ParamError as e:
            self.status.value = _ERROR.format(e)
            return
        self.results = ResultTable()
        self.error = None
        self._cancel.clear()
        self._show_running(True)
        self._thread = threading.Thread(target=self._work, args=plan, daemon=True, name="kernlab-panel")
        self._thread.start()

    def _show_running(self, running: bool):
        self.run_button.disabled, self.stop_button.disabled = running, not running
        self.run_button.description, self.run_button.icon = ("Running…", "spinner") if running else ("Run", "play")
        self.widget.layout.border = "2px solid #2ca02c" if running else ""
        if running:
            self.status.value = ("<b>running</b> on a background thread (the kernel shows Idle meanwhile; "
                                 "Stop ends every worker)")

    def _work(self, variants, threads, params, values):
        x = self.x.value
        started = time.monotonic()
        try:
            sweep(self.exp, variants, threads, params=params, sweep_param=None if x == "threads" else x,
                  sweep_values=values, duration=self.duration.value, repeats=self.repeats.value, progress=False,
                  on_point=self._on_point, cancel=self._cancel, pin=self.pin.value,
                  trace=TRACE_EVENTS if self.trace.value else 0)
            self.status.value = f"done in {time.monotonic() - started:.1f} s: {self._check_summary()}"
        except Cancelled:
            self.status.value = "stopped: every worker has ended; partial results kept"
        except BaseException as e:  # shown in the panel; the notebook keeps running
            self.error = e
            self.status.value = _ERROR.format(f"error: {type(e).__name__}: {e}")
        finally:
            self._show_running(False)
            self._redraw(final=True)

    def _on_point(self, i, total, result, table):
        self.results = table
        self.progress.max, self.progress.value = total, i + 1
        self.status.value = (f"<b>running</b> point {i + 1} of {total}: {result.variant} x{result.threads}: "
                             f"{result.ops_per_sec / 1e6:,.1f} Mops/s")
        # Redrawing every figure costs a noticeable fraction of a second in a kernel: at most
        # once per REDRAW_EVERY_S while running (the run's end always redraws).
        if time.monotonic() - self._drawn_at >= REDRAW_EVERY_S:
            self._redraw()

    # ------------------------------------------------------------------ figures
    def figures(self) -> dict[str, go.Figure]:
        """Every figure the panel shows, built from its current results (and the held run)."""
        x = self.x.value
        figs = {"throughput": throughput_figure(self.results, x), "fairness": fairness_figure(self.results),
                "latency": latency_histogram_figure(self.results)}
        if self.metric.value:
            figs["metric"] = metric_figure(self.results, self.metric.value, x)
        if any(r.get("trace_kind") for r in self.results.rows):
            figs["timeline"] = timeline_figure(self.results)
        if self.held is not None and self.held.rows:
            for trace in throughput_figure(self.held, x).data:
                trace.update(name=f"{trace.name} (held)", opacity=0.5, line_dash="dash", showlegend=True)
                figs["throughput"].add_trace(trace)
        if x != "threads" and self.x_scale.value != "auto":
            for name in ("throughput", "metric"):
                if name in figs:
                    figs[name].update_xaxes(type=self.x_scale.value)
        return figs

    def _update_metric_choices(self):
        metrics = sorted({k.removeprefix("metric_") for r in self.results.rows for k, v in r.items()
                          if k.startswith("metric_") and isinstance(v, (int, float)) and not isinstance(v, bool)})
        if list(self.metric.options) != metrics:
            self._quiet = True  # setting options picks a value: no redraw from inside a redraw
            try:
                keep = self.metric.value
                self.metric.options = metrics
                self.metric.value = keep if keep in metrics else (metrics[0] if metrics else None)
            finally:
                self._quiet = False

    def _redraw(self, final: bool = False):
        if self._quiet:
            return
        self._drawn_at = time.monotonic()
        self._update_metric_choices()
        figs = self.figures()
        for widget, name in ((self.figure, "throughput"), (self.fairness, "fairness"), (self.latency, "latency"),
                             (self.metric_figure, "metric"), (self.timeline, "timeline")):
            fig = figs.get(name, go.Figure())
            # The browser keeps shapes and annotations that a new layout leaves out (the
            # "cores" line of a threads axis stayed on a parameter's axis): clear them first.
            widget.layout.shapes, widget.layout.annotations = (), ()
            with widget.batch_update():
                widget.data = []
                widget.add_traces(list(fig.data))
                widget.layout = fig.layout
        if final:
            self.verdicts.value = self._verdicts_html()
            for view in self._views:
                view.draw()

    def _verdicts_html(self) -> str:
        from .claims import all_claims
        mine = [c for c in all_claims().values() if c.experiment == self.exp.name]
        if not mine or not self.results.rows:
            return ""
        items = "".join(f"<li><b>{v.verdict}</b>: {v.claim}<br><i>measured:</i> {v.measured}</li>"
                        for v in (c.judge(self.results) for c in mine))
        return f"<b>The catalogue's claims, judged on this run</b><ul>{items}</ul>"

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
    def sections(self) -> dict:
        """What export writes: every figure the panel shows, the verdicts and every view
        below the panel (heading -> a figure or an HTML fragment)."""
        out: dict = dict(self.figures())
        if self.verdicts.value:
            out["verdicts"] = self.verdicts.value
        for i, view in enumerate(self._views, 1):
            items = view.items()
            for j, item in enumerate(items, 1):
                name = f"view {i}" + (f".{j}" if len(items) > 1 else "")
                out[name] = item if isinstance(item, BaseFigure) else as_html(item)
        return out

    def export(self, kind: str) -> str | None:
        """Write everything the panel and its views show (html: one page; png/svg: a file
        per figure, the verdicts and text in one page beside them) or the data (csv, with
        its .meta.json header) into ``export_dir``, and offer the files as downloads.
        Returns the first file written."""
        stem = os.path.join(self.export_dir, f"{self.exp.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        title = f"kernlab: {self.exp.title}"
        sections, note = self.sections(), ""
        if kind == "csv":
            paths = [self.results.save(stem + ".csv"), stem + ".csv.meta.json"]
        elif kind == "html":
            paths = [export_page(sections, stem + ".html", title)]
        else:
            figures = {k: v for k, v in sections.items() if isinstance(v, BaseFigure)}
            text = {k: v for k, v in sections.items() if k not in figures}
            try:
                paths = [export_figure(fig, f"{stem}-{name.replace(' ', '-')}.{kind}") for name, fig in figures.items()]
                if text:
                    paths.append(export_page(text, stem + "-text.html", title))
            except ExportError as e:
                paths = [export_page(sections, stem + ".html", title)]
                note = f"{e}; wrote HTML instead. "
        self.exported = paths
        self.export_status.value = f"{note}wrote {', '.join(paths)}<br>{download_links(paths)}"
        return paths[0]
