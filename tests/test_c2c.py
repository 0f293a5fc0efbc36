"""The `c2c` experiment: the token ring counts every hand-off exactly (one thread, a
pinned pair, oversubscribed), the checker can fail, the latency comes from the clock
notes, and the pair sweep and heatmap cover every pair of CPUs."""
import numpy as np
import pytest

from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.experiments.c2c import N_FIRST, N_LAST, T_FIRST, T_LAST, c2c_matrix
from kernlab.machine import pin_order, usable_cores
from kernlab.plots import heatmap_figure, pair_matrix
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

PAIR = pin_order("scattered")[:2]


@pytest.fixture(scope="module")
def c2c():
    return get("c2c")


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["cas", "read_cas"])
@pytest.mark.parametrize("threads, pin", [(1, None), (2, PAIR), (usable_cores() + 1, None)])
def test_stress_every_hand_off_is_counted_once(c2c, variant, threads, pin, no_worker_threads_left):
    if pin is not None and len(pin) < 2:
        pytest.skip("needs two CPUs")
    trial = run_trial(c2c, variant, threads, {}, 0.15, pin=pin)
    assert trial.check.passed, trial.check.detail
    assert trial.ops > 0
    if threads <= usable_cores():
        # a ring passes the token in turn: the threads' counts differ by at most one
        assert trial.per_thread_ops.max() - trial.per_thread_ops.min() <= 1
        assert trial.metrics["handoff_ns"] is not None and trial.metrics["handoff_ns"] > 0
        assert trial.metrics["roundtrip_ns"] == pytest.approx(trial.metrics["handoff_ns"] * threads)


def test_the_check_sees_a_lost_or_doubled_turn(c2c):
    word, stamps = c2c.setup(2, {})
    word[0] = 9
    failed = c2c.check((word, stamps), np.array([5, 5]), {})
    assert not failed.passed and "lost" in failed.detail
    word[0] = 10
    assert c2c.check((word, stamps), np.array([5, 5]), {}).passed


def test_the_latency_is_time_between_notes_over_hand_offs_in_between(c2c):
    word, stamps = c2c.setup(2, {})
    # thread 0 noted 1000 ns at its op 0 and 201000 ns at its op 1024: the ring made
    # 2 x 1024 hand-offs in 200 us, ~97.7 ns each
    stamps[0, [T_FIRST, N_FIRST, T_LAST, N_LAST]] = [1000, 0, 201_000, 1024]
    m = c2c.metrics((word, stamps), np.array([1025, 1025]), np.array([0, 0]), {})
    assert m["handoff_ns"] == pytest.approx(200_000 / 2048) and m["roundtrip_ns"] == pytest.approx(200_000 / 1024)
    assert c2c.metrics(c2c.setup(2, {}), np.array([3, 3]), np.array([0, 0]), {})["handoff_ns"] is None


@pytest.mark.skipif(len(PAIR) < 2, reason="needs two CPUs")
def test_the_pair_sweep_measures_every_pair_and_draws_it():
    table = c2c_matrix(duration=0.03, repeats=2)
    cpus = sorted(set(pin_order("compact")))
    assert len(table) == 2 * len(cpus) * (len(cpus) - 1) // 2
    assert all(r["pin"] == "cpus" and len(r["pin_cpus"]) == 2 and r["check_passed"] for r in table.rows)
    m = pair_matrix(table)
    assert m["cpus"] == cpus and m["median"][0][0] is None and m["median"][0][1] == m["median"][1][0] > 0
    fig = heatmap_figure(table)
    assert len(fig.data[0].z) == len(cpus)
    with pytest.raises(ParamError, match="cpus must list at least two"):
        c2c_matrix(cpus=[cpus[0]])


def test_pair_matrix_is_symmetric_with_spread_from_saved_rows():
    rows = [{"experiment": "c2c", "variant": "cas", "pin_cpus": [a, b], "metric_handoff_ns": ns}
            for (a, b), values in {(0, 1): (50.0, 70.0, 60.0), (0, 2): (200.0,), (2, 1): (210.0, 190.0)}.items()
            for ns in values]
    m = pair_matrix(ResultTable(rows))
    assert m["cpus"] == [0, 1, 2]
    assert m["median"][0][1] == m["median"][1][0] == 60.0 and m["min"][0][1] == 50.0 and m["max"][1][0] == 70.0
    assert m["median"][1][2] == m["median"][2][1] == 200.0 and m["trials"][0][2] == 1
    assert heatmap_figure(m).data[0].z[0][0] != heatmap_figure(m).data[0].z[0][0]   # NaN on the diagonal
