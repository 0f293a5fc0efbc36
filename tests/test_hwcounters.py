"""Hardware counters through perf_event_open: the counter follows the threads a trial
starts (checked with the CPU-time software event, which every Linux counts), and where
the CPU exposes no cache-miss counter a trial carries no cache-miss number at all."""
import threading
import time

from kernlab import hwcounters as H
from kernlab import runner
from kernlab.runner import run_trial

TASK_CLOCK = (H.PERF_TYPE_SOFTWARE, H.PERF_COUNT_SW_TASK_CLOCK)


def test_an_inherited_counter_counts_the_threads_started_inside_it():
    assert H.available(TASK_CLOCK)[0], H.available(TASK_CLOCK)[1]
    cpu = []

    def spin():
        began, x = time.thread_time(), 0
        for i in range(1_000_000):
            x += i
        cpu.append(time.thread_time() - began)

    with H.Counter(TASK_CLOCK) as counter:
        pool = [threading.Thread(target=spin) for _ in range(2)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    # the counter's CPU time covers both threads' own (and a little of this thread's)
    assert 0.9 * sum(cpu) <= counter.count / 1e9 <= 1.5 * sum(cpu) + 0.05, (counter.count, cpu)


def test_a_trial_counts_its_workers_where_the_event_exists(counter, monkeypatch):
    plain = run_trial(counter, "atomic", 2, counter.resolve_params(), 0.05)
    assert ("cache_misses_per_op" in plain.metrics) == H.available()[0], H.available()
    # The same plumbing with an event every Linux has: the workers' CPU time per op.
    monkeypatch.setattr(runner, "Counter", lambda: H.Counter(TASK_CLOCK))
    counted = run_trial(counter, "atomic", 2, counter.resolve_params(), 0.05)
    per_op_ns = counted.metrics["cache_misses_per_op"]
    # the workers spin for 50 ms each: even sharing busy cores they burn far more than the
    # 10 ms this thread could (it sleeps through the trial), so the count includes them
    assert per_op_ns * counted.per_thread_ops.sum() >= 0.01e9


def test_unavailable_says_why():
    ok, why = H.available((H.PERF_TYPE_HARDWARE, 999_999))     # no such hardware event anywhere
    assert not ok and "perf_event_open" in why
