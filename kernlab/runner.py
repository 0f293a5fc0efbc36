"""Runs an experiment's variant on real threads: trials, threads, the start barrier.

One trial:
  1. ``setup`` builds fresh shared state (numpy arrays);
  2. T Python threads (optionally pinned one per CPU) enter the variant's compiled
     worker (``kernlab.worker``), which releases the GIL, announces itself on READY and
     spins on START;
  3. when all T are ready the runner stores START (release), sleeps ``duration``,
     stores STOP; every worker also watches a deadline, so none can outlive the run
     even if the runner itself is stuck or killed by an exception;
  4. the runner joins the threads (joining orders everything the workers wrote before
     everything the runner reads next), then calls the experiment's ``check``.

A warm-up trial (not counted) comes first: it loads or compiles the worker, warms the
caches and measures the cost of one op, from which the latency sampling interval is
chosen so that sampling costs about 1% of the run. ``benchmarks/bench_foundation.py``
measures what the harness costs per op.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from . import atomics as A
from .child import in_child, run_in_child
from .declaration import Experiment, ParamError
from .harness import DEADLINE, READY, START, STOP, TRACE_FROM, control_block, trace_events
from .hwcounters import Counter
from .jit import kernel
from .layout import padded_rows
from .machine import pin_order, probe, timer_overhead_ns, usable_cores
from .results import RunResult, Trial
from .worker import AUX, OPS, SAMPLES, T_BEGIN, T_END, make_worker

LATENCY_CAPACITY = 1 << 14          # samples kept per thread (a ring: the latest ones)
DEADLINE_GRACE_S = 2.0              # a worker quits by itself this long after the planned stop
SAMPLING_TARGET = 0.01              # aim: sampling costs 1% of the run
MAX_DURATION_S = 60.0
MAX_TRACE_EVENTS = 1 << 16          # trace events kept per thread and trial
TRACE_SKIP, TRACE_SKIP_MAX_S = 0.1, 0.05   # tracing starts this share of the trial in (at most 50 ms)


class Cancelled(Exception):
    """The run was cancelled (a notebook's Stop button); all workers have stopped."""


def _validate_run_args(threads, duration, repeats):
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1 or threads > 1024:
        raise ParamError(f"threads must be an integer in [1, 1024], got {threads!r}")
    if not (0 < duration <= MAX_DURATION_S):
        raise ParamError(f"duration must be in (0, {MAX_DURATION_S:g}] seconds, got {duration!r}")
    if not isinstance(repeats, (int, np.integer)) or repeats < 1 or repeats > 1000:
        raise ParamError(f"repeats must be an integer in [1, 1000], got {repeats!r}")


def resolve_pin(pin, threads: int) -> tuple[str, list[int] | None]:
    """``(policy, cpu of each thread)`` for a ``pin`` request: False/None/"none" (no
    pinning: ``None``), True/"compact", "scattered" (see ``machine.pin_order``; thread i
    gets the i-th CPU of that order, wrapping), or a list of CPU ids (thread i on
    ``pin[i % len(pin)]``: ``[2, 5]`` puts a pair of threads on CPUs 2 and 5; ``[3, 3]``
    both on CPU 3)."""
    if pin is None or pin is False or pin == "none":
        return "none", None
    if not hasattr(os, "sched_setaffinity"):
        raise ParamError("pin needs os.sched_setaffinity (Linux); use pin='none' here")
    if pin is True or pin in ("compact", "scattered"):
        order = pin_order("compact" if pin is True else pin)
        return ("compact" if pin is True else pin), [order[i % len(order)] for i in range(threads)]
    usable = sorted(os.sched_getaffinity(0))
    if isinstance(pin, (list, tuple)) and pin and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                                                     and int(c) in usable for c in pin):
        return "cpus", [int(pin[i % len(pin)]) for i in range(threads)]
    raise ParamError(f"pin must be one of none, compact, scattered or a list of CPU ids among "
                     f"{','.join(map(str, usable))}, got {pin!r}")


def _choose_sample_every(ns_per_op: float) -> int:
    """Smallest power of two that keeps two clock reads per sample near SAMPLING_TARGET."""
    cost = 2 * timer_overhead_ns()
    k = cost / (SAMPLING_TARGET * max(ns_per_op, 0.1))
    return int(min(max(1 << int(np.ceil(np.log2(max(k, 1)))), 1), 1 << 24))


def run_trial(exp: Experiment, variant: str, threads: int, params: dict, duration: float,
              sample_every: int = 0, pin=False, cancel: threading.Event | None = None, trace: int = 0) -> Trial:
    """One timed trial. ``sample_every`` 0 turns latency sampling off; otherwise about
    one op in ``sample_every`` is timed, at random indices (see kernlab.worker).
    ``pin``: see ``resolve_pin``."""
    v = exp.variant(variant)
    if exp.validate is not None:     # a variant/threads combination its params cannot refuse
        exp.validate(variant, threads, params)
    worker = make_worker(v.op)
    state = tuple(exp.setup(threads, params))
    # The deadline is final only at START; until then it guards the start-up itself.
    ctl = control_block(deadline_s=duration + DEADLINE_GRACE_S + 10.0, sample_every=sample_every,
                        trace_capacity=trace, threads=threads)
    out = padded_rows(threads, 8)
    lat = np.zeros((threads, LATENCY_CAPACITY), np.int64)

    _compile_here(worker, out, lat, state)
    # A cold compile can take longer than the start-up allowance: count it from here.
    ctl[DEADLINE] = time.monotonic_ns() + int((duration + DEADLINE_GRACE_S + 10.0) * 1e9)
    _, cpus = resolve_pin(pin, threads)
    errors = []

    def body(tid):
        try:
            if cpus:
                os.sched_setaffinity(0, {cpus[tid]})  # 0 = this thread only
            worker(ctl, tid, out, lat, state)
        except BaseException as e:  # surfaced in the runner thread after join
            errors.append(e)
            _set(ctl, STOP, 1)

    pool = [threading.Thread(target=body, args=(i,), daemon=True, name=f"kernlab-{i}") for i in range(threads)]
    # cache misses of this process and the workers it starts, where the CPU exposes them
    with Counter() as misses:
        try:
            for t in pool:
                t.start()
            waited = time.monotonic()
            while _get(ctl, READY) < threads and not errors:
                if time.monotonic() - waited > 10.0:
                    raise RuntimeError(f"only {_get(ctl, READY)} of {threads} workers started within 10 s")
                time.sleep(0.0002)
            # The deadline counts from the real start: no worker survives the planned stop by
            # more than DEADLINE_GRACE_S, even if this thread dies right here.
            _set(ctl, DEADLINE, time.monotonic_ns() + int((duration + DEADLINE_GRACE_S) * 1e9))
            _set(ctl, TRACE_FROM, time.monotonic_ns() + int(min(TRACE_SKIP * duration, TRACE_SKIP_MAX_S) * 1e9))
            _set(ctl, START, 1)
            cancelled = _sleep_until(time.monotonic() + duration, cancel or threading.Event())
        finally:
            _set(ctl, STOP, 1)
            for t in pool:
                t.join(timeout=DEADLINE_GRACE_S + 5.0)
    if errors:
        raise errors[0]
    if any(t.is_alive() for t in pool):
        raise RuntimeError("a worker did not stop; its op ignores the stop flag")
    if cancelled:
        raise Cancelled("run cancelled")

    ops = out[:, OPS].copy()
    elapsed_ns = int(out[:, T_END].max() - out[:, T_BEGIN].min())
    samples = out[:, SAMPLES]
    kept = [min(int(samples[i]), LATENCY_CAPACITY) for i in range(threads)]
    lats = np.concatenate([lat[i, :kept[i]] for i in range(threads)])
    lat_tids = np.repeat(np.arange(threads), kept)
    thread_ns = max(int((out[:, T_END] - out[:, T_BEGIN]).sum()), 1)
    overhead = float(samples.sum() * 2 * timer_overhead_ns() / thread_ns)
    aux = out[:, AUX].copy()
    check = exp.check(state, ops, params)
    metrics = exp.metrics(state, ops, aux, params) if exp.metrics else {}
    if misses.count is not None:
        metrics["cache_misses_per_op"] = misses.count / max(int(ops.sum()), 1)
    events = trace_events(ctl, threads)
    events[:, 2:] -= int(out[:, T_BEGIN].min())   # nanoseconds since the first worker began
    return Trial(ops, aux, elapsed_ns / 1e9, lats, sample_every, overhead, check, metrics, lat_tids,
                 events if trace else None, trace)


def _compile_here(worker, out, lat, state) -> None:
    """Compile (or load from the disk cache) in this thread, not in T workers at once:
    a cold compile can take seconds, and the start barrier should time thread start-up
    only. A control block with START and STOP already set makes the call run zero ops."""
    worker(control_block(started=True, stopped=True), 0, out, lat, state)
    out[0, :] = 0


def _sleep_until(end: float, cancel: threading.Event) -> bool:
    """Sleep in short slices, so that Ctrl-C (handled between bytecodes) and a cancel
    both take effect within one slice. True if cancelled."""
    while (left := end - time.monotonic()) > 0:
        if cancel.wait(min(left, 0.02)):
            return True
    return False


@kernel
def _get(ctl, i):
    # acquire: pairs with the workers' fetch_add_release(READY).
    return A.load_acquire(ctl, i)


@kernel
def _set(ctl, i, value):
    # release: pairs with load_acquire(START) in the worker.
    A.store_release(ctl, i, value)


def run(exp: Experiment, variant: str, threads: int, duration: float = 1.0, repeats: int = 3,
        params: dict | None = None, warmup: float = 0.1, sample_every: int | None = None,
        pin=False, cancel: threading.Event | None = None, trace: int = 0) -> RunResult:
    """Warm up, then ``repeats`` counted trials. ``sample_every`` None picks it from the
    warm-up; 0 turns latency sampling off. ``trace`` > 0 keeps the last that many events
    per thread in every counted trial (see harness: trace mode)."""
    _validate_run_args(threads, duration, repeats)
    if not isinstance(trace, (int, np.integer)) or isinstance(trace, bool) or not 0 <= trace <= MAX_TRACE_EVENTS:
        raise ParamError(f"trace must be an integer in [0, {MAX_TRACE_EVENTS}] (events per thread; 0: off), "
                         f"got {trace!r}")
    policy, cpus = resolve_pin(pin, threads)
    values = exp.resolve_params(params)
    v = exp.variant(variant)
    env = exp.child_env(values) if exp.child_env is not None else None
    if env is not None and not in_child():   # an LD_PRELOADed allocator, another NUMBA_CPU_NAME...
        return run_in_child(exp, variant, threads, duration, repeats, values, warmup, sample_every, pin, cancel, env)
    if warmup > 0:
        trial = run_trial(exp, variant, threads, values, min(warmup, duration), 0, pin, cancel)
        if sample_every is None:
            ns_per_op = trial.elapsed_s * 1e9 / max(trial.per_thread_ops.mean(), 1)
            sample_every = _choose_sample_every(ns_per_op)
    if sample_every is None:
        sample_every = 1024
    if not isinstance(sample_every, (int, np.integer)) or sample_every < 0 or sample_every > 1 << 24:
        raise ParamError(f"sample_every must be an integer in [0, {1 << 24}] (0: no latency samples), "
                         f"got {sample_every!r}")
    trials = [run_trial(exp, variant, threads, values, duration, sample_every, pin, cancel, trace)
              for _ in range(repeats)]
    return RunResult(exp.name, variant, v.broken, threads, values, duration, trials,
                     oversubscribed=threads > usable_cores(), pinned=cpus is not None,
                     aux_name=exp.aux_name, machine=probe(), pin=policy, cpus=list(cpus or []),
                     ignores=exp.ignored_by(variant))
