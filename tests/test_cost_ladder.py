"""The `cost_ladder` experiment: every rung runs and self-checks (exact atomic counts,
a chase that stays in its ring, a clock that never goes back, futex wakes that wake no
one), the ladder reports every rung with its spread, and the claims follow the numbers."""
import numpy as np
import pytest

from kernlab import claims
from kernlab.atomics import HAVE_FUTEX
from kernlab.experiments import get
from kernlab.experiments.cost_ladder import LOADS_PER_OP, ladder_costs, ladder_pairs, measure_ladder
from kernlab.plots import ladder_figure, ladder_lines
from kernlab.runner import run_trial
from kernlab.tables import ResultTable


@pytest.fixture(scope="module")
def ladder():
    return get("cost_ladder")


@pytest.mark.stress
@pytest.mark.parametrize("variant, threads", [("empty", 1), ("clock_read", 2), ("local_load", 2),
                                              ("uncontended_atomic", 2), ("contended_atomic", 2),
                                              ("futex_syscall", 1)])
def test_stress_every_rung_checks_itself(ladder, variant, threads):
    trial = run_trial(ladder, variant, threads, {}, 0.1)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0


def test_the_check_sees_a_miscount_a_lost_chase_and_errors(ladder):
    ops = np.array([10])
    state = ladder.setup(1, {})
    state[2][0] = 9                      # contended counter: one increment lost
    assert not ladder.check(state, ops, {}).passed
    state = ladder.setup(1, {})
    state[1][0, 0] = 10**6               # a chase position outside the ring
    assert "left its ring" in ladder.check(state, ops, {}).detail
    state = ladder.setup(1, {})
    state[1][0, 3] = 1                   # a clock that went backwards
    assert "errors" in ladder.check(state, ops, {}).detail
    assert ladder.check(ladder.setup(1, {}), ops, {}).passed


def test_the_chase_ring_is_one_cycle_through_every_word(ladder):
    ring = ladder.setup(2, {})[0]
    for row in ring:
        p, seen = 0, set()
        for _ in range(len(row)):
            seen.add(p)
            p = row[p]
        assert p == 0 and len(seen) == len(row)   # a single cycle: no short loop the cache could skip


def test_the_ladder_measures_every_rung_with_its_spread():
    table = measure_ladder(duration=0.03, repeats=2)
    costs = {c["rung"]: c for c in ladder_costs(table)}
    expected = {"empty", "clock_read", "local_load", "uncontended_atomic", "contended_atomic_same_core"}
    expected |= {"futex_syscall"} if HAVE_FUTEX else set()
    expected |= {"contended_atomic_other_core"} if ladder_pairs()["other_core"] else set()
    assert set(costs) == expected
    for c in costs.values():
        assert c["trials"] == 2 and 0 < c["min_ns"] <= c["median_ns"] <= c["max_ns"] and c["checks_passed"]
    assert costs["contended_atomic_same_core"]["cpus"] == ladder_pairs()["same_core"]
    assert len(ladder_figure(table).data[0].x) == len(expected)
    assert "local_load" in ladder_lines(table)


def _row(rung, variant, ns_per_op, threads=1, cpus=(0,)):
    ops = 1_000_000
    ns = ns_per_op * (LOADS_PER_OP if variant == "local_load" else 1)
    return {"experiment": "cost_ladder", "variant": variant, "rung": rung, "threads": threads, "ops": ops,
            "duration_s": ns * ops / len(set(cpus)) / 1e9, "pin_cpus": list(cpus), "check_passed": True}


def test_per_op_time_counts_threads_running_at_once():
    rows = [_row("contended_atomic_other_core", "contended_atomic", 40.0, 2, (0, 1)),
            _row("contended_atomic_same_core", "contended_atomic", 10.0, 2, (0, 0)),
            _row("local_load", "local_load", 1.25)]
    costs = {c["rung"]: c["median_ns"] for c in ladder_costs(ResultTable(rows))}
    assert costs == pytest.approx({"contended_atomic_other_core": 40.0, "contended_atomic_same_core": 10.0,
                                   "local_load": 1.25})


def test_claim_verdicts_follow_the_ladder():
    judge = lambda *rows: claims.judge("l1-hit-1ns", ResultTable(list(rows)))
    assert judge().verdict == "not measured"
    assert judge(_row("local_load", "local_load", 1.2)).verdict == "holds"
    assert judge(_row("local_load", "local_load", 5.0)).verdict == "does not hold"
    assert "memory-hierarchy-latency" in judge(_row("local_load", "local_load", 1.2)).why
    contention = lambda hot: claims.judge("zero-contention-ladder", ResultTable([
        _row("uncontended_atomic", "uncontended_atomic", 10.0),
        _row("contended_atomic_other_core", "contended_atomic", hot, 2, (0, 1))]))
    assert contention(60.0).verdict == "holds" and "6.0x" in contention(60.0).measured
    assert contention(15.0).verdict == "partly holds"
    assert contention(10.0).verdict == "does not hold"
    assert claims.judge("zero-contention-ladder", ResultTable([])).verdict == "not measured"
