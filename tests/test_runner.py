"""kernlab.runner: threads, start barrier, trials, warm-up, cancel and Ctrl-C.

Time bounds here are causal, not speed tests: every worker is compiled (or loaded)
before a clock starts, and a run of 30 s that ends within a few seconds of a cancel or
a Ctrl-C can only have ended *because* of it."""
import os
import signal
import threading
import time

import pytest

from kernlab import runner as R
from kernlab.declaration import ParamError
from kernlab.machine import timer_overhead_ns, usable_cores

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")

LONG_RUN_S = 30          # runs the tests interrupt; they must end long before this
PROMPT_S = 5.0           # "promptly": far below LONG_RUN_S, far above any scheduling hiccup


def test_run_reports_everything(counter):
    res = R.run(counter, "atomic", 2, duration=0.1, repeats=2, warmup=0.05)
    j = res.to_json()
    for key in ("experiment", "variant", "threads", "params", "ops_per_sec", "ops_per_sec_trials",
                "per_thread_ops", "latency_ns", "check", "oversubscribed", "machine", "fairness"):
        assert key in j
    assert j["threads"] == 2 and len(j["per_thread_ops"]) == 2 and min(j["per_thread_ops"]) > 0
    assert len(j["ops_per_sec_trials"]) == 2 and j["ops_per_sec"] > 0
    assert j["check"]["passed"], j["check"]
    assert set(j["latency_ns"]) == {"p50", "p99", "p999"} and j["latency_ns"]["p50"] > 0
    assert j["latency_ns"]["p50"] <= j["latency_ns"]["p99"] <= j["latency_ns"]["p999"]
    assert j["machine"]["cpu_model"] and j["machine"]["numba"]
    # 'ops' counts what ran: the counter itself agrees (the loop was not optimized away)
    assert "= operations performed" in j["check"]["detail"]


@pytest.mark.parametrize("ns_per_op", [0.05, 1.0, 3.7, 50.0, 1e4, 1e9])
def test_sample_every_is_chosen_for_one_percent_overhead(ns_per_op):
    """Two clock reads per sample, one sample per ``k`` ops of ``ns_per_op``: k is the
    smallest interval the chooser allows whose cost stays within SAMPLING_TARGET."""
    k = R._choose_sample_every(ns_per_op)
    assert isinstance(k, int) and 1 <= k <= 1 << 24
    cost = 2 * timer_overhead_ns() / (k * max(ns_per_op, 0.1))
    assert cost <= R.SAMPLING_TARGET * 1.0001 or k == 1 << 24
    # not needlessly sparse: half the interval would cost more than the target
    assert k == 1 or 2 * timer_overhead_ns() / (k / 2 * max(ns_per_op, 0.1)) > R.SAMPLING_TARGET


def test_sampling_interval_comes_from_the_warmup(counter):
    res = R.run(counter, "padded", 1, duration=0.2, repeats=1, warmup=0.1)
    trial = res.trials[0]
    # was: a power of two (the old n & mask sampler needed one); now any int in [1, 2**24]
    assert 1 <= trial.sample_every <= 1 << 24
    assert trial.sample_every > 1          # a cheap op is not timed every time
    # the target is 1%; this bound only says sampling does not dominate, even if a busy
    # core slowed the warm-up (which makes the chosen interval shorter)
    assert trial.sampling_overhead < 0.25, trial.sampling_overhead
    assert len(trial.latencies_ns) > 10


def test_any_sample_every_in_range_is_accepted(counter):
    res = R.run(counter, "atomic", 1, duration=0.05, repeats=1, warmup=0, sample_every=100)
    assert res.trials[0].sample_every == 100 and len(res.trials[0].latencies_ns) > 0
    assert len(R.run(counter, "atomic", 1, duration=0.05, repeats=1, warmup=0,
                     sample_every=0).trials[0].latencies_ns) == 0


@pytest.mark.parametrize("bad", [-1, (1 << 24) + 1, 1.5, "16"])
def test_bad_sample_every(counter, bad):
    with pytest.raises(ParamError, match="sample_every"):
        R.run(counter, "atomic", 1, duration=0.05, repeats=1, warmup=0, sample_every=bad)


def test_oversubscription_is_flagged(counter):
    res = R.run(counter, "atomic", usable_cores() + 1, duration=0.05, repeats=1, warmup=0)
    assert res.oversubscribed and res.check.passed
    assert not R.run(counter, "atomic", 1, duration=0.05, repeats=1, warmup=0).oversubscribed


@pytest.mark.parametrize("bad", [dict(threads=0), dict(duration=0), dict(duration=61), dict(repeats=0)])
def test_bad_run_arguments(counter, bad):
    args = dict(threads=1, duration=0.1, repeats=1) | bad
    with pytest.raises(ParamError, match=list(bad)[0]):
        R.run(counter, "atomic", **args)


def _cancel_latency(counter, threads):
    """Seconds from cancel.set() to Cancelled in a 30 s run of spinning lock ops."""
    R.run_trial(counter, "spinlock", 1, counter.resolve_params(), 0.01)   # compiled before any clock
    cancel = threading.Event()
    outcome = {}

    def target():
        try:
            R.run(counter, "spinlock", threads, duration=LONG_RUN_S, repeats=1, warmup=0, cancel=cancel)
        except R.Cancelled:
            outcome["stopped_at"] = time.monotonic()

    t = threading.Thread(target=target)
    t.start()
    time.sleep(0.3)
    asked = time.monotonic()
    cancel.set()
    t.join(LONG_RUN_S)
    assert not t.is_alive() and "stopped_at" in outcome   # it raised Cancelled: the cancel ended it
    return outcome["stopped_at"] - asked


def test_cancel_stops_all_workers_promptly(counter):
    # the runner polls the cancel every 20 ms; workers leave at the next stop-flag check
    assert _cancel_latency(counter, min(usable_cores(), 2)) < PROMPT_S


def test_cancel_stops_oversubscribed_spinners_promptly(counter):
    # More spinners than cores: the runner thread itself must wait for a time slice;
    # what matters is that it ends, and long before the run would have.
    assert _cancel_latency(counter, usable_cores() + 2) < PROMPT_S


def test_ctrl_c_stops_all_workers_and_leaves_python_usable(counter):
    R.run(counter, "atomic", 1, duration=0.02, repeats=1, warmup=0)  # compiled before timing
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))  # a real Ctrl-C
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        R.run(counter, "atomic", 2, duration=LONG_RUN_S, repeats=1, warmup=0)
    timer.join()
    assert time.monotonic() - start < PROMPT_S   # the interrupt ended it, not the 30 s
    # still usable afterwards
    assert R.run(counter, "atomic", 2, duration=0.05, repeats=1, warmup=0).check.passed


def test_pinned_run(counter):
    res = R.run(counter, "padded", 2, duration=0.05, repeats=1, warmup=0, pin=True)
    assert res.pinned and res.check.passed and min(res.trials[0].per_thread_ops) > 0
