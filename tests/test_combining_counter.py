"""The `combining_counter` experiment (atomic, mutex, sharded, flat combining and the
catalogue's seed design) on real threads: the correct counters count exactly and their
per-request results replay sequentially; the seed design's double count is caught."""
import numpy as np
import pytest

from kernlab import claims
from kernlab.experiments import combining_counter as CC
from kernlab.experiments import get
from kernlab.machine import usable_cores
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

OVER = usable_cores() + 2             # oversubscribed: more threads than cores
COUNTERS = ["atomic", "mutex", "sharded", "flat_combining"]

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.fixture(scope="module")
def combining():
    return get("combining_counter")


@pytest.mark.stress
@pytest.mark.parametrize("variant", COUNTERS)
@pytest.mark.parametrize("threads", [1, 2, OVER])
def test_stress_counter_counts_exactly(combining, variant, threads):
    trial = run_trial(combining, variant, threads, combining.resolve_params(), 0.1, sample_every=64)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["excess"] == 0


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["atomic", "mutex", "flat_combining"])
@pytest.mark.parametrize("threads", [2, 3])
def test_stress_per_request_results_match_sequential_replay(combining, variant, threads):
    # 20,000 ops per thread take milliseconds; 2 s leaves room for a descheduled combiner
    trial = run_trial(combining, variant, threads, combining.resolve_params({"verify_ops": 20_000}), 2.0)
    assert trial.check.passed, trial.check.detail
    assert "match a sequential replay" in trial.check.detail
    assert (trial.per_thread_ops == 20_000).all()


def test_replay_catches_a_wrong_result(combining):
    params = combining.resolve_params({"verify_ops": 1000})
    trial_state = CC.setup(2, params)
    # a sequentially correct history for two threads ...
    value = 0
    for n in range(1000):
        for tid in range(2):
            trial_state[9][tid, n] = value
            value += 1 + ((tid + n) & 3)
    trial_state[0][0] = value
    ops = np.array([1000, 1000])
    assert CC.check(trial_state, ops, params).passed
    # ... then two requesters handed each other's result
    log = trial_state[9]
    log[0, 500], log[1, 500] = log[1, 500], log[0, 500]
    c = CC.check(trial_state, ops, params)
    assert not c.passed and "per-request" in c.detail


def test_flat_combining_reports_batches(combining):
    trial = run_trial(combining, "flat_combining", 2, combining.resolve_params(), 0.1)
    m = trial.metrics
    assert m["combining_passes"] > 0 and sum(m["batch_hist"]) == m["combining_passes"]
    served = sum(k * c for k, c in enumerate(m["batch_hist"]))
    assert served == trial.ops and m["mean_batch"] >= 1.0


@pytest.mark.stress
def test_stress_seed_design_double_count_is_caught(combining, caught):
    trial = caught(lambda: run_trial(combining, "seed_design", 2, combining.resolve_params(), 0.2), 5,
                   "the seed design's double counting (two threads)")
    assert trial.metrics["excess"] > 0 and "double counted" in trial.check.detail
    assert trial.metrics["seed_fallbacks"] > 0


@pytest.mark.stress
def test_stress_seed_design_single_thread_is_exact(combining):
    # one thread always wins the try-lock: the bug needs contention
    assert run_trial(combining, "seed_design", 1, combining.resolve_params(), 0.05).check.passed


def test_flat_combining_verdict_follows_the_numbers(claim_row):
    fc = lambda fc_rate: claims.judge("flat-combining-8x", ResultTable([
        claim_row("combining_counter", "atomic", 2, 100.0),
        claim_row("combining_counter", "flat_combining", 2, fc_rate)]))
    assert fc(50.0).verdict == "does not hold" and fc(200.0).verdict == "partly holds"
    assert fc(900.0).verdict == "holds" and claims.judge("flat-combining-8x", ResultTable()).verdict == "not measured"


@pytest.mark.soak
@pytest.mark.parametrize("variant", COUNTERS)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_counters(combining, variant, threads):
    trial = run_trial(combining, variant, threads, combining.resolve_params(), 3.0)
    assert trial.check.passed, trial.check.detail
    if variant != "sharded":
        trial = run_trial(combining, variant, threads, combining.resolve_params({"verify_ops": 200_000}), 20.0)
        assert trial.check.passed, trial.check.detail
