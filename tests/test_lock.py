"""The `lock` experiment (the lock zoo: TAS, TTAS, ticket, MCS, futex mutex) on real
threads with its self-check: every lock must keep mutual exclusion, no lock at all must
be caught. Short stress tier by default (oversubscribed cases included); soak with --soak."""
import threading
import time

import pytest

from kernlab import claims
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.machine import usable_cores
from kernlab.runner import DEADLINE_GRACE_S, Cancelled, run, run_trial
from kernlab.tables import ResultTable

CORES = usable_cores()
OVER = CORES + 2                      # oversubscribed: more threads than cores
LOCKS = ["tas", "ttas", "ticket", "mcs", "mutex"]
LONG_RUN_S = 30                       # a run the test cancels: it must end long before this

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.fixture(scope="module")
def lock():
    return get("lock")


@pytest.mark.stress
@pytest.mark.parametrize("variant", LOCKS)
@pytest.mark.parametrize("threads", [1, 2, OVER])
def test_stress_lock_mutual_exclusion(lock, variant, threads):
    params = lock.resolve_params({"critical_section": 50, "contention": 0.7})
    duration = 0.12
    trial = run_trial(lock, variant, threads, params, duration, sample_every=64)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["lost_updates"] == 0 and trial.metrics["intrusions"] == 0
    assert trial.ops > 0
    # The deadline holds oversubscribed too: by the workers' own clocks (no compile, setup
    # or check inside), no worker outlived its deadline (planned stop + DEADLINE_GRACE_S,
    # plus 0.5 s for how often a spinner reads the clock), even with a lock holder
    # descheduled. (run_trial raises if a worker never stops at all.)
    assert trial.elapsed_s < duration + DEADLINE_GRACE_S + 0.5, trial.elapsed_s


@pytest.mark.stress
def test_stress_no_lock_is_caught(lock, caught):
    params = lock.resolve_params({"critical_section": 200})
    trial = caught(lambda: run_trial(lock, "none", 2, params, 0.15), 5, "no lock at all")
    assert trial.metrics["lost_updates"] > 0 or trial.metrics["intrusions"] > 0
    assert "mutual exclusion violated" in trial.check.detail


@pytest.mark.stress
def test_stress_lock_report_has_fairness_and_latency(lock):
    res = run(lock, "ticket", 2, duration=0.1, repeats=1, warmup=0.05)
    j = res.to_json()
    assert set(j["fairness"]) == {"min", "max", "cv"} and j["latency_ns"]["p50"] > 0
    assert len(j["per_thread_ops"]) == 2 and j["check"]["passed"]


@pytest.mark.stress
def test_stress_oversubscribed_spinlock_cancel_is_prompt(lock):
    run_trial(lock, "mcs", 1, lock.resolve_params(), 0.01)      # compiled before any clock
    cancel = threading.Event()
    done = {}

    def target():
        try:
            run(lock, "mcs", OVER + 2, duration=LONG_RUN_S, repeats=1, warmup=0, cancel=cancel)
        except Exception as e:  # Cancelled
            done["at"] = time.monotonic(), type(e).__name__

    t = threading.Thread(target=target)
    t.start()
    time.sleep(0.4)
    asked = time.monotonic()
    cancel.set()
    t.join(LONG_RUN_S)
    assert done and done["at"][1] == Cancelled.__name__      # the cancel ended it ...
    assert done["at"][0] - asked < 5.0                        # ... long before the 30 s run would have


@pytest.mark.parametrize("name,value,match", [
    ("critical_section", -1, r"parameter 'critical_section' must be an integer in \[0, 1,000,000\]"),
    ("contention", "lots", "contention"),
    ("contention", 0.0, r"parameter 'contention' must be a number in \[0.01, 1\]"),
])
def test_bad_lock_parameters(lock, name, value, match):
    with pytest.raises(ParamError, match=match):
        lock.resolve_params({name: value})


def test_contention_scaling_verdict_follows_the_numbers(claim_row):
    def judge(ticket_at_8, mutex_at_8=None):
        rows = [claim_row("lock", "ticket", 2, 10.0), claim_row("lock", "ticket", 8, ticket_at_8)]
        if mutex_at_8 is not None:
            rows += [claim_row("lock", "mutex", 2, 10.0), claim_row("lock", "mutex", 8, mutex_at_8)]
        return claims.judge("lock-contention-scaling", ResultTable(rows))
    lk = judge(1.0, mutex_at_8=8.0)       # the spinner collapsed, the sleeping mutex did not
    assert lk.verdict == "holds" and "ticket" in lk.why
    assert judge(1.0).verdict == "not measured"            # "spinning is hurt most" needs the mutex beside it
    assert judge(1.0, mutex_at_8=0.5).verdict == "partly holds"    # collapsed, but the mutex fell further
    assert judge(9.0, mutex_at_8=9.5).verdict == "partly holds"    # spinner worst, nothing collapsed
    assert judge(9.5, mutex_at_8=9.0).verdict == "does not hold"


@pytest.mark.soak
@pytest.mark.parametrize("variant", LOCKS)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_locks(lock, variant, threads):
    for cs in (0, 100, 2000):
        trial = run_trial(lock, variant, threads, lock.resolve_params({"critical_section": cs}), 2.0)
        assert trial.check.passed, trial.check.detail


def test_contention_sets_the_work_outside_the_lock(lock):
    from kernlab.experiments.lock import outside_rounds
    assert outside_rounds(lock.resolve_params({"critical_section": 100, "contention": 0.25})) == 300
    assert outside_rounds(lock.resolve_params({"critical_section": 100, "contention": 1.0})) == 0
    assert outside_rounds(lock.resolve_params({"critical_section": 0, "contention": 0.5})) == 0
