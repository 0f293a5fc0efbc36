"""The figure builders (pure functions of a results table) and export."""
import os
from pathlib import Path

import numpy as np
import pytest

from kernlab import plots
from kernlab.runner import run
from kernlab.tables import ResultTable, median_trial


@pytest.fixture(scope="module")
def table(counter):
    t = ResultTable()
    for v in ("atomic", "padded", "racy"):
        for threads in (1, 2):
            t.add(run(counter, v, threads, duration=0.03, repeats=2, warmup=0))
    return t


def _row(variant, threads, ops_per_sec, **extra):
    """A hand-made trial row: figures must work on any table, not only live runs."""
    return {"experiment": "combining_counter", "variant": variant, "broken": False, "threads": threads,
            "ops_per_sec": ops_per_sec, "oversubscribed": False, "usable_cores": 2, **extra}


def test_figures_from_a_table(table):
    fig = plots.throughput_figure(table)
    assert {t.name for t in fig.data} == {"atomic", "padded", "racy (broken)"}
    assert plots.fairness_figure(table).data[0].type == "bar"
    assert len(plots.latency_figure(table).data) == 9
    pic = plots.cache_line_picture(threads=4, stride_bytes=8)
    assert len(pic.layout.shapes) == 4 + 1  # four slots on one line


def test_html_export_is_self_contained(table, tmp_path):
    path = plots.export_figure(plots.throughput_figure(table), str(tmp_path / "c.html"))
    text = Path(path).read_text()
    assert 'src="https://cdn.plot.ly' not in text and len(text) > 1_000_000  # plotly.js is embedded


def test_static_export(table, tmp_path):
    if not plots.browser_available():
        if os.environ.get("KERNLAB_REQUIRE_BROWSER") == "1":
            pytest.fail("CI installed chromium but kernlab cannot find it")
        with pytest.raises(plots.ExportError, match="Chromium"):
            plots.export_figure(plots.throughput_figure(table), str(tmp_path / "c.png"))
        return
    for ext, magic in (("png", b"\x89PNG"), ("svg", b"<svg")):
        path = plots.export_figure(plots.throughput_figure(table), str(tmp_path / f"c.{ext}"))
        head = Path(path).read_bytes()[:400]
        assert head[:200].lstrip().startswith(magic) or magic in head


def test_every_old_name_is_exported():
    old = {"throughput_figure", "fairness_figure", "latency_figure", "cache_line_picture", "export_figure",
           "browser_available", "ExportError", "PALETTE",                           # kernlab.plots
           "fairness_lines", "batch_histogram_figure", "excess_figure",             # contention_plots
           "metric_figure", "series_figure", "shard_profiles_figure", "ratio_lines"}  # read_mostly_plots
    assert old <= set(plots.__all__) and all(hasattr(plots, name) for name in plots.__all__)


def test_excess_shows_lost_updates_instead_of_the_max():
    # issue 8: a max() over trials drew [0, -7, -2] as 0, hiding the lost updates
    t = ResultTable([_row("atomic", 2, 1e6, metric_excess=0), _row("atomic", 2, 2e6, metric_excess=0),
                     _row("lossy", 2, 1e6, metric_excess=0), _row("lossy", 2, 2e6, metric_excess=-7),
                     _row("lossy", 2, 3e6, metric_excess=-2),
                     _row("seed_design", 2, 1e6, metric_excess=5), _row("seed_design", 4, 1e6, metric_excess=9)])
    bars = {b.name: b for b in plots.excess_figure(t).data}
    assert list(bars["atomic"].y) == [0]
    lossy = bars["lossy"]
    assert list(lossy.y) == [-2] and lossy.y[0] < 0  # the median trial, negative
    assert lossy.y[0] - lossy.error_y.arrayminus[0] == -7  # the worst trial is shown too
    assert list(bars["seed_design"].x) == ["2", "4"] and list(bars["seed_design"].y) == [5, 9]


def test_excess_leaves_out_rows_without_the_metric():
    t = ResultTable([_row("atomic", 2, 1e6, metric_excess=-3), _row("mutex", 2, 1e6)])
    assert [b.name for b in plots.excess_figure(t).data] == ["atomic"]


def test_throughput_is_the_ops_per_sec_metric(table):
    fig = plots.throughput_figure(table)
    same = plots.metric_figure(table, "ops_per_sec", scale=1e-6)
    assert [list(tr.y) for tr in fig.data] == [list(tr.y) for tr in same.data]
    atomic = next(tr for tr in fig.data if tr.name == "atomic")
    rates = [r["ops_per_sec"] / 1e6 for r in table.where(variant="atomic", threads=2).rows]
    assert atomic.y[list(atomic.x).index(2)] == pytest.approx(float(np.median(rates)))


def test_median_trial_is_one_real_trial():
    rows = [_row("a", 2, r, per_thread_ops=[int(r), 0]) for r in (4.0, 1.0, 3.0, 2.0)]
    assert median_trial(rows)["ops_per_sec"] == 2.0  # lower median of an even count: an observed trial
    fig = plots.fairness_figure(ResultTable(rows))
    assert list(fig.data[0].y) == [1.0, 0.0]  # the per-thread split of that same trial


def test_contention_and_series_figures_from_rows():
    rows = [_row("flat_combining", 2, 1e6, metric_batch_hist=[0, 2, 2], per_thread_ops=[5, 5],
                 fairness_min=5, fairness_max=5, fairness_cv=0.0, lat_p50_ns=100.0, lat_p99_ns=None,
                 check_passed=True, metric_garbage_series=[0, 3, 1], metric_garbage_series_ms=[0.0, 1.0, 2.0])]
    t = ResultTable(rows)
    assert list(plots.batch_histogram_figure(t).data[0].y) == [0.0, 0.5, 0.5]
    assert "flat_combining" in plots.fairness_lines(t) and "n/a" in plots.fairness_lines(t)
    assert list(plots.series_figure(t, "garbage").data[0].y) == [0, 3, 1]


def test_breakdown_adds_each_steps_cost_from_median_trials():
    from kernlab import plots
    from kernlab.tables import ResultTable
    rows = [{"variant": v, "threads": 1, "ops_per_sec": 1e9 / ns} for v, ns in
            [("a", 1.0), ("b", 3.0), ("b", 2.5), ("b", 9.0), ("c", 4.0)]]
    costs = plots.step_costs(ResultTable(rows))
    assert [(s, round(t, 6), round(a, 6)) for s, t, a in costs] == [("a", 1.0, 1.0), ("b", 3.0, 2.0), ("c", 4.0, 1.0)]
    assert len(plots.breakdown_figure(ResultTable(rows)).data) == 1
    assert "+  2.00 ns" in plots.breakdown_lines(ResultTable(rows))


def test_thread_axes_tick_the_measured_counts_only():
    from kernlab import plots
    from kernlab.tables import ResultTable
    rows = [{"experiment": "e", "variant": "v", "threads": t, "ops_per_sec": 1e6 * t, "lat_p50_ns": 10.0,
             "lat_p99_ns": 20.0, "lat_p999_ns": 30.0} for t in (1, 2, 4)]
    for fig in (plots.throughput_figure(ResultTable(rows)), plots.latency_figure(ResultTable(rows))):
        assert list(fig.layout.xaxis.tickvals) == [1, 2, 4]


def _raw(variant, threads, lats, tids, **extra):
    return _row(variant, threads, 1e6, lat_raw_ns=list(lats), lat_raw_thread=list(tids), **extra)


def test_latency_distributions_draw_the_raw_samples_of_one_point():
    rng = np.random.default_rng(1)
    fast = rng.integers(20, 40, 1000)
    slow = np.concatenate([rng.integers(20, 40, 900), rng.integers(5000, 9000, 100)])  # a slow mode
    table = ResultTable([_raw("a", 2, fast, [0, 1] * 500), _raw("b", 2, slow, [0] * 900 + [1] * 100),
                         _raw("a", 1, [1e6], [0])])  # another point: must not be mixed in
    hist = plots.latency_histogram_figure(table)
    assert [t.name for t in hist.data] == ["a", "b"] and "2 threads" in hist.layout.title.text
    b = hist.data[1]
    assert sum(y for x, y in zip(b.x, b.y, strict=True) if x >= 4000) == pytest.approx(0.1)
    assert max(hist.data[0].x[i] for i, y in enumerate(hist.data[0].y) if y > 0) < 100
    cdf = plots.latency_cdf_figure(table)
    assert cdf.data[0].y[-1] == 1.0 and max(cdf.data[0].x) < 100
    tails = plots.thread_tails_figure(table)
    assert list(tails.data[1].x) == ["t0", "t1"] and tails.data[1].y[1] > 10 * tails.data[1].y[0]


def test_single_point_figures_say_which_point_and_pick_one_value_of_a_swept_parameter():
    table = ResultTable([_raw("a", 2, [10, 20], [0, 1], per_thread_ops=[1, 1], param_read_ratio=0.5),
                         _raw("a", 2, [30, 40], [0, 1], per_thread_ops=[3, 1], param_read_ratio=0.99)])
    fig = plots.fairness_figure(table)
    assert fig.layout.title.text.endswith("at 2 threads, read_ratio=0.99")
    assert list(fig.data[0].y) == [0.75, 0.25]
    assert "read_ratio=0.5" in plots.fairness_figure(table, read_ratio=0.5).layout.title.text


def test_rows_from_two_machines_are_separate_series():
    table = ResultTable([_row("a", 1, 1e6, machine="m1"), _row("a", 2, 2e6, machine="m1"),
                         _row("a", 1, 3e6, machine="m2")])
    assert sorted(t.name for t in plots.throughput_figure(table).data) == ["a @ m1", "a @ m2"]
    assert [t.name for t in plots.throughput_figure(table.where(machine="m1")).data] == ["a"]
    assert plots.throughput_figure(table.where(machine="m1")).layout.showlegend is True


def test_a_variant_that_ignores_the_x_parameter_is_a_flat_reference_line():
    table = ResultTable([_row("sharded", 2, 1e6, param_shard_index="mask"),
                         _row("sharded", 2, 2e6, param_shard_index="modulo"),
                         _row("rcu", 2, 5e6, param_shard_index="mask", ignores="shards,shard_index")])
    traces = {t.name: t for t in plots.throughput_figure(table, x="shard_index").data}
    assert set(traces) == {"sharded", "rcu (ignores shard_index)"}
    flat = traces["rcu (ignores shard_index)"]
    assert list(flat.x) == ["mask", "modulo"] and list(flat.y) == [5.0, 5.0] and flat.line.dash == "dot"
    assert [t.name for t in plots.throughput_figure(table).data] == [   # against threads: one line per setting
        "rcu", "sharded shard_index=mask", "sharded shard_index=modulo"]


def test_no_figure_merges_two_machines_or_two_settings_into_one_series():
    two = ResultTable([_row("a", 2, 1e6, machine="m1", per_thread_ops=[5, 5]),
                       _row("a", 2, 2e6, machine="m2", per_thread_ops=[9, 1])])
    assert [t.name for t in plots.fairness_figure(two).data] == ["a @ m1", "a @ m2"]
    swept = ResultTable([_row("a", 1, 1e6, param_read_ratio=0.5), _row("a", 1, 2e6, param_read_ratio=0.9),
                         _row("b", 1, 3e6, param_read_ratio=0.5, ignores="read_ratio")])
    assert sorted(t.name for t in plots.throughput_figure(swept).data) == ["a read_ratio=0.5", "a read_ratio=0.9", "b"]
