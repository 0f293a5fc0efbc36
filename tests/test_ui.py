"""The widget panel driven from code: generated controls, runs, stop, export buttons.
The figure builders themselves are tested in test_plots.py."""
import os

from kernlab.controls import param_widget
from kernlab.tables import ResultTable
from kernlab.ui import Panel


def test_panel_is_generated_from_the_declaration(counter):
    panel = Panel(counter)
    assert set(panel.params) == {p.name for p in counter.params}
    assert [value for _, value in panel.variants.options] == counter.variant_names()
    assert "stride_bytes" in panel.x.options


def test_panel_run_changes_the_figures(counter):
    panel = Panel(counter, duration=0.05, repeats=1)
    assert len(panel.figure.data) == 0
    panel.variants.value = ("atomic", "padded")
    panel.threads.value = (1, 2)
    panel.params["stride_bytes"].value = 128
    panel.run_button.click()
    panel.wait(60)
    assert panel.error is None, panel.error
    assert sorted(t.name for t in panel.figure.data) == ["atomic", "padded"]
    assert list(panel.figure.data[0].x) == [1, 2] and all(y > 0 for y in panel.figure.data[0].y)
    assert len(panel.fairness.data) == 2 and "all checks passed" in panel.status.value
    assert {r["param_stride_bytes"] for r in panel.results.rows} == {128}


def test_panel_sweeps_a_parameter_and_reports_broken(counter):
    panel = Panel(counter, duration=0.05, repeats=1)
    panel.variants.value = ("racy", "padded")
    panel.threads.value = (2,)
    panel.x.value = "stride_bytes"
    panel.run()
    traces = {t.name: t for t in panel.figure.data}
    assert set(traces) == {"padded", "racy (ignores stride_bytes) (broken)"}
    assert list(traces["padded"].x) == list(counter.param("stride_bytes").choices)
    assert len({r["param_stride_bytes"] for r in panel.results.where(variant="racy").rows}) == 1   # run once
    racy = traces["racy (ignores stride_bytes) (broken)"]
    assert list(racy.x) == list(traces["padded"].x) and racy.line.dash == "dash"  # broken variants are drawn dashed


def test_panel_stop_button(counter):
    import time
    panel = Panel(counter, duration=5.0, repeats=3)
    panel.threads.value = (2,)
    panel.start()
    time.sleep(1.0)
    asked = time.monotonic()
    panel.stop_button.click()
    panel.wait(5)
    # The cause, not a speed: the run (3 trials of 5 s) ended long before it would have.
    assert time.monotonic() - asked < 5.0 and not panel.running
    assert panel.status.value.startswith("stopped")


def test_panel_shows_bad_values_instead_of_raising(counter):
    panel = Panel(counter)
    panel.variants.value = ()
    panel.run_button.click()
    assert "choose at least one variant" in panel.status.value and not panel.running


def test_param_widgets_follow_declarations():
    from kernlab.declaration import Param
    assert type(param_widget(Param("n", int, 5, "h", low=1, high=10))).__name__ == "IntSlider"
    # unbounded boxes: a value typed out of range is kept and named, never clamped in silence
    assert type(param_widget(Param("n", int, 16, "h", low=16, high=10**6))).__name__ == "IntText"
    assert type(param_widget(Param("r", float, 0.9, "h", low=0.5, high=1.0))).__name__ == "FloatText"
    assert type(param_widget(Param("b", bool, False, "h"))).__name__ == "Checkbox"
    assert type(param_widget(Param("c", str, "a", "h", choices=("a", "b")))).__name__ == "Dropdown"


def test_panel_exports(counter, tmp_path):
    panel = Panel(counter, duration=0.03, repeats=1, export_dir=str(tmp_path))
    panel.variants.value = ("atomic",)
    panel.threads.value = (1,)
    panel.run()
    csv_path = panel.export("csv")
    assert ResultTable.load(csv_path).rows[0]["variant"] == "atomic"
    assert panel.export("html").endswith(".html")
    png = panel.export("png")
    assert os.path.exists(png) and "wrote" in panel.export_status.value


def test_control_rows_wrap_in_a_narrow_window():
    from kernlab.ui import Panel
    panel = Panel("process_table")
    rows = [w for w in panel.widget.children if w.__class__.__name__ == "HBox"]
    assert rows and all(r.layout.flex_flow == "row wrap" for r in rows)


def test_any_numeric_parameter_is_an_x_axis_with_typed_values():
    panel = Panel("process_table", variants=["rwlock", "rcu"], threads=[1, 2], duration=0.03, repeats=1)
    assert "read_ratio" in panel.x.options and "table_size" in panel.x.options
    panel.x.value = "read_ratio"
    assert panel.params["read_ratio"].disabled and not panel.values.disabled
    assert "0.99" in panel.values.value  # suggested values: nines for a ratio
    panel.values.value = "0.5, 0.99"
    panel.x_scale.value = "log"
    panel.run()
    assert panel.error is None, panel.error
    names = sorted(t.name for t in panel.figure.data)
    assert names == ["rcu x1", "rcu x2", "rwlock x1", "rwlock x2"]  # thread counts stay series
    assert sorted(panel.figure.data[0].x) == [0.5, 0.99] and panel.figure.layout.xaxis.type == "log"
    assert {r["param_read_ratio"] for r in panel.results.rows} == {0.5, 0.99}


def test_a_value_out_of_range_is_named_not_clamped():
    panel = Panel("process_table")
    panel.params["read_ratio"].value = 0.3
    assert panel.params["read_ratio"].value == 0.3 and "read_ratio" in panel.param_note.value
    panel.run_button.click()
    assert "read_ratio" in panel.status.value and not panel.running
    panel.params["read_ratio"].value = 0.9
    assert panel.param_note.value == ""
    panel.x.value = "read_ratio"
    panel.values.value = "0.9, 2"
    panel.run_button.click()
    assert "read_ratio" in panel.status.value and "got 2" in panel.status.value and not panel.running


def test_every_figure_views_and_verdicts_redraw_after_a_run(counter):
    panel = Panel(counter, variants=["atomic", "padded"], threads=[2], duration=0.03, repeats=1)
    view = panel.view(lambda t: f"{len(t)} rows")
    assert view.outputs == () and panel.verdicts.value == ""
    panel.run()
    assert view.outputs[0]["data"]["text/plain"] == "2 rows"
    assert len(panel.latency.data) == 2 and len(panel.fairness.data) == 2
    assert panel.metric.value and len(panel.metric_figure.data) == 2
    assert "judged on this run" in panel.verdicts.value
    assert panel.run_button.description == "Run" and panel.widget.layout.border in ("", None)


def test_hold_keeps_the_previous_run_as_a_dashed_overlay(counter):
    panel = Panel(counter, variants=["atomic"], threads=[1], duration=0.03, repeats=1)
    panel.run()
    panel.hold.value = True
    panel.variants.value = ("padded",)
    panel.run()
    names = {t.name: t for t in panel.figure.data}
    assert set(names) == {"padded", "atomic (held)"} and names["atomic (held)"].line.dash == "dash"
    panel.hold.value = False
    assert [t.name for t in panel.figure.data] == ["padded"]


def test_export_writes_every_figure_and_offers_downloads(counter, tmp_path):
    panel = Panel(counter, variants=["atomic"], threads=[1], duration=0.03, repeats=1, export_dir=str(tmp_path))
    panel.run()
    page = panel.export("html")
    text = open(page).read()
    assert text.count("<h2>") == len(panel.sections()) == len(panel.figures()) + 1 >= 4   # + the verdicts
    assert "download=" in panel.export_status.value and "base64," in panel.export_status.value
    panel.export("csv")
    assert [os.path.basename(p).split(".", 1)[1] for p in panel.exported] == ["csv", "csv.meta.json"]


def test_a_traced_run_adds_its_timeline():
    panel = Panel("lock", variants=["ttas"], threads=[2], duration=0.05, repeats=1)
    panel.run()
    assert len(panel.timeline.data) == 0
    panel.trace.value = True
    panel.run()
    assert panel.error is None, panel.error
    names = {t.name for t in panel.timeline.data}   # a wait only where a thread had to wait
    assert "hold" in names and names <= {"wait", "hold"} and "timeline" in panel.figures()


def test_views_follow_every_panel_they_watch_and_are_exported(counter, tmp_path):
    a = Panel(counter, variants=["atomic"], threads=[1], duration=0.03, repeats=1, export_dir=str(tmp_path))
    b = Panel(counter, variants=["padded"], threads=[1], duration=0.03, repeats=1)
    from kernlab import joint_view
    from kernlab.plots import throughput_figure
    both = joint_view([a, b], lambda t: (f"{len(t)} rows", throughput_figure(t)))
    assert both.outputs == ()
    a.run()
    assert both.outputs[0]["data"]["text/plain"] == "1 rows"     # text is shown as text, not as a repr
    b.run()
    assert both.outputs[0]["data"]["text/plain"] == "2 rows" and len(both.outputs) == 2
    page = open(a.export("html")).read()
    assert "<h2>view 1.1</h2><pre>2 rows</pre>" in page and "<h2>view 1.2</h2>" in page
    assert "<h2>verdicts</h2>" in page and page.count("window.PlotlyConfig") == 1   # plotly.js embedded once


def test_a_view_that_fails_on_the_results_says_so_instead_of_stopping_the_panel(counter):
    panel = Panel(counter)
    out = panel.view(lambda t: 1 / 0)
    panel.results = ResultTable([{"experiment": "counter", "variant": "atomic", "threads": 1, "ops_per_sec": 1.0}])
    panel._views[0].draw()
    assert "could not be drawn" in out.outputs[0]["data"]["text/plain"] and "ZeroDivisionError" in \
        out.outputs[0]["data"]["text/plain"]
