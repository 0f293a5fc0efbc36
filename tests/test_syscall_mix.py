"""syscall_mix: every step's own check runs on its own state; switches pick the steps;
the success-metric verdicts and the switch waterfall follow the numbers."""
import numpy as np
import pytest

from kernlab import plots
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.experiments import syscall_mix as M
from kernlab.runner import run_trial
from kernlab.tables import ResultTable
from kernlab.ui import Panel


@pytest.fixture(scope="module")
def mix():
    return get("syscall_mix")


def test_switches_pick_the_steps():
    assert set(M.choices("baseline").values()) <= {low for _, _, low, _ in M.SWITCHES}
    assert M.choices("optimized") == {name: high for name, _, _, high in M.SWITCHES}
    for name, _, low, _ in M.SWITCHES:
        picked = M.choices(f"without_{name}")
        assert picked[name] == low and all(picked[o] == h for o, _, _, h in M.SWITCHES if o != name)


def test_any_combination_of_switches_is_a_variant_with_those_steps(mix):
    on = {"process_table", "permission"}
    name = M.combination(on)
    assert name == "with_process_table+permission" and M.combination(set(M.SWITCH_NAMES) - {"stats"}) == \
        "without_stats" and M.combination(set()) == "baseline"
    bound = mix.variant(name).op.py_func.__globals__     # made on demand, the steps bound as globals
    for step, (switch, exp, low, high) in zip(M._STEP_NAMES, M.SWITCHES, strict=True):
        assert bound[step] is exp.EXPERIMENT.variant(high if switch in on else low).op
    assert bound["RCU_TABLE"] and mix.variant(name) is mix.variant(name)
    for bad in ("with_permission+process_table", "with_nothing", "with_", "optimised"):  # one spelling each
        with pytest.raises(ParamError, match="unknown variant"):
            mix.variant(bad)
    with pytest.raises(ParamError, match="unknown switch 'simd'"):
        M.combination({"simd"})


def test_the_panel_turns_checked_switches_into_a_variant(mix):
    panel = Panel(mix)
    assert list(panel.switches) == list(M.SWITCH_NAMES) and all(w.value for w in panel.switches.values())
    panel.switches["errors"].value = False
    assert panel.variants.value == ("baseline", "without_errors")
    panel.switches["buffers"].value = False
    name = "with_" + "+".join(n for n in M.SWITCH_NAMES if n not in ("errors", "buffers"))
    assert panel.variants.value == ("baseline", name) and name in panel.status.value
    assert panel._plan()[0] == ["baseline", name]


@pytest.fixture(scope="module")
def trials(mix):
    params = mix.resolve_params({"read_share": 0.9, "failure_share": 0.2})
    return {v: run_trial(mix, v, 2, params, 0.3) for v in ("baseline", "optimized")}


def test_every_step_is_checked_and_passes(trials):
    for variant, trial in trials.items():
        assert trial.check.passed, (variant, trial.check.detail)
        m = trial.metrics
        assert m["process_table_share"] + m["fd_table_share"] == pytest.approx(1.0)
        for step in ("permission", "stats", "counters", "buffers"):   # every call (one may stop midway)
            assert m[f"{step}_share"] == pytest.approx(1.0, abs=1e-3)
        assert 0.05 < m["errors_share"] < 0.5


def test_pools_cut_the_allocator_calls_that_malloc_makes(trials):
    # counted calls into the allocator, not a timing: malloc calls it for every buffer
    assert trials["baseline"].metrics["allocs_per_op"] >= 1.0
    assert trials["optimized"].metrics["allocs_per_op"] < trials["baseline"].metrics["allocs_per_op"]


def test_a_broken_step_fails_the_whole_check(mix):
    params = mix.resolve_params({})
    state = tuple(mix.setup(2, params))
    ops = np.array([0, 0])
    assert mix.check(state, ops, params).passed
    counts = state[M.COUNTS]
    counts[0, M.COUNT] = 5            # the counter step "performed" 5 increments it never made
    result = mix.check(state, ops, params)
    assert not result.passed and result.detail.startswith("counters:")


def _row(variant, threads, rate, p99, allocs, **params):
    return {"experiment": "syscall_mix", "variant": variant, "threads": threads, "ops_per_sec": rate,
            "lat_p99_ns": p99, "metric_allocs_per_op": allocs,
            **{f"param_{k}": v for k, v in {"read_share": 0.9, "key_skew": 0.0, **params}.items()}}


def test_success_metric_verdicts_follow_the_numbers():
    from kernlab.claims import judge
    table = ResultTable([_row("baseline", 2, 100.0, 1000.0, 1.0), _row("optimized", 2, 140.0, 700.0, 0.2),
                         _row("baseline", 2, 100.0, 1000.0, 1.0, read_share=0.5),
                         _row("optimized", 2, 110.0, 950.0, 0.2, read_share=0.5)])
    assert judge("syscall-throughput-30", table).verdict == "partly holds"
    assert judge("syscall-throughput-30", table.where(param_read_share=0.9)).verdict == "holds"
    assert judge("syscall-p99-20", table.where(param_read_share=0.5)).verdict == "does not hold"
    assert judge("syscall-allocations-50", table).verdict == "holds"
    assert judge("syscall-throughput-30", ResultTable()).verdict == "not measured"
    from kernlab.hwcounters import available
    misses = judge("syscall-cache-misses-25", table)          # rows without counts: never a made-up number
    assert misses.verdict == ("not measured" if available()[0] else "not measurable here")
    assert misses.measured == "no cache-miss counter read"
    counted = ResultTable([{**_row("baseline", 2, 100.0, 1000.0, 1.0), "metric_cache_misses_per_op": 8.0},
                           {**_row("optimized", 2, 140.0, 700.0, 0.2), "metric_cache_misses_per_op": 5.0}])
    misses = judge("syscall-cache-misses-25", counted)        # counts measured (on a machine with counters)
    assert misses.verdict == "holds" and "8.00 -> 5.00 cache misses per call" in misses.measured


def test_the_waterfall_splits_the_gain_over_the_switches():
    rows = [_row(v, 2, rate, 0.0, 0.0) for v, rate in (("baseline", 100.0), ("optimized", 200.0),
                                                         ("without_buffers", 150.0), ("without_errors", 190.0))]
    shares = dict(plots.breakdown.switch_contributions(ResultTable(rows)))
    assert shares == {"buffers": 50.0, "errors": 10.0, "together": 40.0}
    fig = plots.contributions_figure(ResultTable(rows), scale=1.0)
    assert list(fig.data[0].x) == ["baseline", "buffers", "errors", "together", "optimized"]
