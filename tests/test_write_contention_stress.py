"""Write contention (lock zoo, combining counters, adaptive cell, lock striping) on real
threads with their self-checks: correct variants must pass, broken ones must be caught.
Short tier by default (oversubscribed cases included); the soak tier with --soak."""
import threading
import time

import numpy as np
import pytest

from kernlab.experiment import ParamError
from kernlab.experiments import get
from kernlab.machine import usable_cores
from kernlab.runner import run, run_trial

CORES = usable_cores()
OVER = CORES + 2                      # oversubscribed: more threads than cores
LOCKS = ["tas", "ttas", "ticket", "mcs", "mutex"]
COUNTERS = ["atomic", "mutex", "sharded", "flat_combining"]

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.fixture(scope="module")
def lock():
    return get("lock")


@pytest.fixture(scope="module")
def combining():
    return get("combining_counter")


# ----------------------------------------------------------------------------- locks

@pytest.mark.parametrize("variant", LOCKS)
@pytest.mark.parametrize("threads", [1, 2, OVER])
def test_stress_lock_mutual_exclusion(lock, variant, threads):
    params = lock.resolve_params({"critical_section": 50, "outside_work": 20})
    run_trial(lock, variant, 1, params, 0.01)          # compile or load outside the timing
    started = time.monotonic()
    trial = run_trial(lock, variant, threads, params, 0.12, sample_every=64)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["lost_updates"] == 0 and trial.metrics["intrusions"] == 0
    assert trial.ops > 0
    # the deadline holds oversubscribed too: a trial of 0.12 s ends well within its grace
    assert time.monotonic() - started < 0.12 + 2.5


def test_stress_no_lock_is_caught(lock):
    details = []
    for _ in range(5):
        trial = run_trial(lock, "none", 2, lock.resolve_params({"critical_section": 200}), 0.15)
        if not trial.check.passed:
            assert trial.metrics["lost_updates"] > 0 or trial.metrics["intrusions"] > 0
            assert "mutual exclusion violated" in trial.check.detail
            return
        details.append(trial.check.detail)
    pytest.fail(f"no lock at all and no violation seen in 5 runs: {details}")


def test_stress_lock_report_has_fairness_and_latency(lock):
    res = run(lock, "ticket", 2, duration=0.1, repeats=1, warmup=0.05)
    j = res.to_json()
    assert set(j["fairness"]) == {"min", "max", "cv"} and j["latency_ns"]["p50"] > 0
    assert len(j["per_thread_ops"]) == 2 and j["check"]["passed"]


def test_stress_oversubscribed_spinlock_cancel_is_prompt(lock):
    cancel = threading.Event()
    done = {}

    def target():
        try:
            run(lock, "mcs", OVER + 2, duration=30, repeats=1, warmup=0, cancel=cancel)
        except Exception as e:  # Cancelled
            done["at"] = time.monotonic(), type(e).__name__

    t = threading.Thread(target=target)
    t.start()
    time.sleep(0.4)
    asked = time.monotonic()
    cancel.set()
    t.join(10)
    assert done and done["at"][1] == "Cancelled"
    assert done["at"][0] - asked < 0.5


@pytest.mark.parametrize("name,value,match", [
    ("critical_section", -1, r"parameter 'critical_section' must be an integer in \[0, 1,000,000\]"),
    ("outside_work", "lots", "outside_work"),
])
def test_bad_lock_parameters(lock, name, value, match):
    with pytest.raises(ParamError, match=match):
        lock.resolve_params({name: value})


# ----------------------------------------------------------------------------- counters

@pytest.mark.parametrize("variant", COUNTERS)
@pytest.mark.parametrize("threads", [1, 2, OVER])
def test_stress_counter_counts_exactly(combining, variant, threads):
    trial = run_trial(combining, variant, threads, combining.resolve_params(), 0.1, sample_every=64)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["excess"] == 0


@pytest.mark.parametrize("variant", ["atomic", "mutex", "flat_combining"])
@pytest.mark.parametrize("threads", [2, 3])
def test_stress_per_request_results_match_sequential_replay(combining, variant, threads):
    trial = run_trial(combining, variant, threads, combining.resolve_params({"verify_ops": 20_000}), 2.0)
    assert trial.check.passed, trial.check.detail
    assert "match a sequential replay" in trial.check.detail
    assert (trial.per_thread_ops == 20_000).all()


def test_replay_catches_a_wrong_result(combining):
    from kernlab.experiments import combining_counter as CC
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


def test_stress_seed_design_double_count_is_caught(combining):
    details = []
    for _ in range(5):
        trial = run_trial(combining, "seed_design", 2, combining.resolve_params(), 0.2)
        if not trial.check.passed:
            assert trial.metrics["excess"] > 0 and "double counted" in trial.check.detail
            assert trial.metrics["seed_fallbacks"] > 0
            return
        details.append(trial.check.detail)
    pytest.fail(f"the seed design never double counted in 5 two-thread runs: {details}")


def test_stress_seed_design_single_thread_is_exact(combining):
    # one thread always wins the try-lock: the bug needs contention
    assert run_trial(combining, "seed_design", 1, combining.resolve_params(), 0.05).check.passed


# ----------------------------------------------------------------------------- adaptive cell

@pytest.mark.parametrize("variant", ["adaptive", "mutex", "seqlock"])
@pytest.mark.parametrize("value_bytes", [8, 64, 256])
def test_stress_adaptive_cell_never_tears(variant, value_bytes):
    exp = get("adaptive_cell")
    threads = 3 if value_bytes == 64 else 2
    trial = run_trial(exp, variant, threads, exp.resolve_params({"value_bytes": value_bytes, "write_ratio": 0.5}), 0.1)
    assert trial.check.passed, trial.check.detail


def test_adaptive_cell_checker_sees_a_torn_value():
    from kernlab.experiments import adaptive_cell as AC
    exp = get("adaptive_cell")
    params = exp.resolve_params({"value_bytes": 64})
    state = AC.setup(1, params)
    state[1][3] += 1                      # one word from another value
    assert not AC.check(state, np.array([1]), params).passed


def test_bad_value_bytes_names_the_allowed_values():
    with pytest.raises(ParamError, match=r"parameter 'value_bytes' must be one of 8, 16, 32, 64, 128, 256, got 12"):
        get("adaptive_cell").resolve_params({"value_bytes": 12})


# ----------------------------------------------------------------------------- striping

@pytest.mark.parametrize("variant", ["global", "per_process", "striped"])
@pytest.mark.parametrize("skew", [0.0, 1.2])
def test_stress_fd_striping_counts_every_table(variant, skew):
    exp = get("fd_striping")
    params = exp.resolve_params({"processes": 32, "stripes": 4, "key_skew": skew})
    trial = run_trial(exp, variant, 2 if skew else OVER, params, 0.1)
    assert trial.check.passed, trial.check.detail


def test_fd_striping_hash_and_stripes():
    from kernlab.experiments import fd_striping as FS
    exp = get("fd_striping")
    with pytest.raises(ParamError, match="stripes.*a power of two"):
        exp.resolve_params({"stripes": 6})
    stripes = [FS.stripe_of(p, 3) for p in range(1000)]
    assert set(stripes) == set(range(8)) and FS.stripe_of(123, 0) == 0
    counts = np.bincount(stripes)
    assert counts.min() > 90          # Fibonacci hashing spreads consecutive ids evenly


# ----------------------------------------------------------------------------- claims

def test_claim_verdicts_follow_the_numbers():
    from kernlab import claims
    from kernlab.results import ResultTable

    def row(exp, variant, threads, rate, **params):
        r = {"experiment": exp, "variant": variant, "threads": threads, "ops_per_sec": rate,
             "oversubscribed": threads > 2, "broken": False}
        r.update({f"param_{k}": v for k, v in params.items()})
        return r
    fc = lambda fc_rate: claims.judge("flat-combining-8x", ResultTable([
        row("combining_counter", "atomic", 2, 100.0), row("combining_counter", "flat_combining", 2, fc_rate)]))
    assert fc(50.0).verdict == "does not hold" and fc(200.0).verdict == "partly holds"
    assert fc(900.0).verdict == "holds" and claims.judge("flat-combining-8x", ResultTable()).verdict == "not measured"
    ad = lambda rate: claims.judge("adaptive-lock-10x", ResultTable([
        row("adaptive_cell", "adaptive", 1, rate, value_bytes=8, write_ratio=0.1),
        row("adaptive_cell", "mutex", 1, 10.0, value_bytes=8, write_ratio=0.1)]))
    assert ad(120.0).verdict == "holds" and ad(30.0).verdict == "partly holds" and ad(11.0).verdict == "does not hold"
    st = lambda rate: claims.judge("lock-striping", ResultTable([
        row("fd_striping", "global", 2, 10.0), row("fd_striping", "per_process", 2, rate)]))
    assert st(20.0).verdict == "holds" and st(10.5).verdict == "does not hold"
    lk = claims.judge("lock-contention-scaling", ResultTable([
        row("lock", "ticket", 2, 10.0), row("lock", "ticket", 8, 1.0)]))
    assert lk.verdict == "holds" and "ticket" in lk.why


# ----------------------------------------------------------------------------- soak

@pytest.mark.soak
@pytest.mark.parametrize("variant", LOCKS)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_locks(lock, variant, threads):
    for cs in (0, 100, 2000):
        trial = run_trial(lock, variant, threads, lock.resolve_params({"critical_section": cs}), 2.0)
        assert trial.check.passed, trial.check.detail


@pytest.mark.soak
@pytest.mark.parametrize("variant", COUNTERS)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_counters(combining, variant, threads):
    trial = run_trial(combining, variant, threads, combining.resolve_params(), 3.0)
    assert trial.check.passed, trial.check.detail
    if variant != "sharded":
        trial = run_trial(combining, variant, threads, combining.resolve_params({"verify_ops": 200_000}), 20.0)
        assert trial.check.passed, trial.check.detail
