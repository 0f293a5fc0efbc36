"""The widget panel driven from code: generated controls, runs, stop, export buttons.
The figure builders themselves are tested in test_plots.py."""
import os

from kernlab.tables import ResultTable
from kernlab.ui import Panel, param_widget


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
    panel.variants.value = ("racy",)
    panel.threads.value = (2,)
    panel.x.value = "stride_bytes"
    panel.run()
    assert list(panel.figure.data[0].x) == list(counter.param("stride_bytes").choices)
    assert panel.figure.data[0].line.dash == "dash"  # broken variants are drawn dashed


def test_panel_stop_button(counter):
    import time
    panel = Panel(counter, duration=5.0, repeats=3)
    panel.threads.value = (2,)
    panel.start()
    time.sleep(1.0)
    asked = time.monotonic()
    panel.stop_button.click()
    panel.wait(5)
    assert time.monotonic() - asked < 0.5 and not panel.running
    assert panel.status.value.startswith("stopped")


def test_panel_shows_bad_values_instead_of_raising(counter):
    panel = Panel(counter)
    panel.variants.value = ()
    panel.run_button.click()
    assert "choose at least one variant" in panel.status.value and not panel.running


def test_param_widgets_follow_declarations():
    from kernlab.declaration import Param
    assert type(param_widget(Param("n", int, 5, "h", low=1, high=10))).__name__ == "IntSlider"
    assert type(param_widget(Param("n", int, 16, "h", low=16, high=10**6))).__name__ == "BoundedIntText"
    assert type(param_widget(Param("r", float, 0.9, "h", low=0.5, high=1.0))).__name__ == "BoundedFloatText"
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
