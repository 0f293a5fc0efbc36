"""Runs an experiment's variant on real threads and measures it.

One trial:
  1. ``setup`` builds fresh shared state (numpy arrays);
  2. T Python threads (optionally pinned one per CPU) enter the variant's compiled
     worker, which releases the GIL, announces itself on READY and spins on START;
  3. when all T are ready the runner stores START (release), sleeps ``duration``,
     stores STOP; every worker also watches a deadline, so none can outlive the run
     even if the runner itself is stuck or killed by an exception;
  4. the runner joins the threads (joining orders everything the workers wrote before
     everything the runner reads next), then calls the experiment's ``check``.

A warm-up trial (not counted) comes first: it loads or compiles the worker, warms the
caches and measures the cost of one op, from which the latency sampling interval is
chosen so that sampling costs about 1% of the run (1 op in ``sample_every`` is timed
with two clock reads).

The harness loop around each op is shared by every variant: a relaxed load of the stop
flag per op, a clock read every ``DEADLINE_CHECK_EVERY`` ops and the sampling test.
``benchmarks/bench_runner_overhead.py`` measures what that costs per op.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import threading
import time
import types as pytypes
from dataclasses import dataclass, field

import numpy as np

from . import atomics as A
from .experiment import Check, Experiment
from numba import njit

from .jit import OPTIONS, inline_kernel, kernel
from .layout import aligned_zeros, padded_rows
from .machine import probe, timer_overhead_ns, usable_cores

# Control block: one field per 128 bytes (a pair of cache lines), so that the flags the
# workers poll never share a line with anything that is written during the run.
_FIELD = 16
START, STOP, READY, DEADLINE, SAMPLE_MASK = (i * _FIELD for i in range(5))
_CTL_LEN = 5 * _FIELD

# Per-thread result row, written once by its own worker when it leaves the loop.
OPS, AUX, T_BEGIN, T_END, SAMPLES = range(5)

LATENCY_CAPACITY = 1 << 14          # samples kept per thread (a ring: the latest ones)
DEADLINE_CHECK_EVERY = 1024         # ops between two clock reads for the deadline
DEADLINE_GRACE_S = 2.0              # a worker quits by itself this long after the planned stop
SAMPLING_TARGET = 0.01              # aim: sampling costs 1% of the run
MAX_DURATION_S = 60.0


class Cancelled(Exception):
    """The run was cancelled (a notebook's Stop button); all workers have stopped."""


# ----------------------------------------------------------------------------- kernels

@inline_kernel
def stopping(ctl):
    """True once the run is stopping. Ops that can spin (locks) poll it and return -1.
    relaxed: the flag publishes no data; the runner's join orders the results."""
    return A.load_relaxed(ctl, STOP) != 0


@inline_kernel
def past_deadline(ctl):
    return A.now_ns() > A.load_relaxed(ctl, DEADLINE)


@inline_kernel
def should_abandon(ctl, spins):
    """For spin loops: stop flag every spin, the clock every 256 spins (a preempted lock
    holder must not keep a spinning thread alive past the deadline)."""
    return stopping(ctl) or ((spins & 255) == 0 and past_deadline(ctl))


def _harness(ctl, tid, out, lat, state):
    # `op` is not defined here: make_worker binds it as a global of each clone.
    sample_mask = A.load_relaxed(ctl, SAMPLE_MASK)
    ring_mask = lat.shape[1] - 1
    # release: pairs with load_acquire(READY) in the runner (it only counts us).
    A.fetch_add_release(ctl, READY, 1)
    spins = 0
    # acquire: pairs with store_release(START) in the runner.
    while A.load_acquire(ctl, START) == 0:
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            break
    # Read after START: the runner sets the final deadline just before releasing START.
    deadline = A.load_relaxed(ctl, DEADLINE)
    n = 0
    aux = 0
    samples = 0
    begin = A.now_ns()
    # One test per op decides whether it needs bookkeeping (a clock read for the
    # deadline every DEADLINE_CHECK_EVERY ops, a latency sample every sample_every):
    # one branch on the common path keeps the harness under a nanosecond per op.
    deadline_mask = DEADLINE_CHECK_EVERY - 1
    slow_mask = min(sample_mask, deadline_mask) if sample_mask >= 0 else deadline_mask
    # relaxed: STOP carries no data (see `stopping`).
    while A.load_relaxed(ctl, STOP) == 0:
        if (n & slow_mask) != 0:
            r = op(ctl, state, tid, n)  # noqa: F821
        else:
            if (n & deadline_mask) == 0 and A.now_ns() > deadline:
                break
            if (n & sample_mask) == 0:
                t0 = A.now_ns()
                r = op(ctl, state, tid, n)  # noqa: F821
                lat[tid, samples & ring_mask] = A.now_ns() - t0
                samples += 1
            else:
                r = op(ctl, state, tid, n)  # noqa: F821
        if r < 0:
            break
        aux += r
        n += 1
    out[tid, T_END] = A.now_ns()
    out[tid, T_BEGIN] = begin
    out[tid, OPS] = n
    out[tid, AUX] = aux
    out[tid, SAMPLES] = samples


# The clones' cache files are keyed by this (numba's own key ignores compile options),
# so editing the harness or the jit options recompiles them.
_HARNESS_SALT = hashlib.sha1((inspect.getsource(_harness) + repr(OPTIONS) + "op-inlined").encode()).hexdigest()[:10]
_workers: dict = {}


def make_worker(op):
    """The shared harness compiled around one op.

    The op is inlined into the loop in numba's IR, through a twin dispatcher with
    ``inline="always"`` (the op's own dispatcher stays callable from Python). Left to
    LLVM, an op too big to inline stays a call, and a call passes every array of the
    state tuple by value, about seven words each: measured 40-90 ns per lock op against
    3-11 ns inlined.

    Passing the op as an argument would work too, but numba then keys its disk cache by
    a per-process id and recompiles in every process. Instead each op gets a clone of
    the harness function whose globals bind ``op``; the clone is cached next to the op's
    source file under a name carrying the op's name and the harness's hash.
    """
    worker = _workers.get(op)
    if worker is None:
        src = op.py_func
        code = _harness.__code__.replace(co_filename=inspect.getfile(src),
                                         co_name=f"worker_{src.__name__}")
        inlined = njit(inline="always", **OPTIONS)(src)
        fn = pytypes.FunctionType(code, {**_harness.__globals__, "op": inlined}, code.co_name)
        fn.__qualname__ = f"worker_{src.__name__}_{_HARNESS_SALT}"
        fn.__module__ = src.__module__
        worker = _workers[op] = kernel(fn)
    return worker


@kernel(_nrt=True)  # allocates its result
def _timer_pairs(n):
    deltas = np.empty(n, np.int64)
    for i in range(n):
        t0 = A.now_ns()
        t1 = A.now_ns()
        deltas[i] = t1 - t0
    return deltas


def measure_timer_overhead(n: int = 20001) -> float:
    """Median ns between two back-to-back ``now_ns`` calls in compiled code."""
    return float(np.median(_timer_pairs(n)))


# ----------------------------------------------------------------------------- results

@dataclass
class Trial:
    per_thread_ops: np.ndarray
    per_thread_aux: np.ndarray
    elapsed_s: float
    latencies_ns: np.ndarray
    sample_every: int
    sampling_overhead: float          # estimated fraction of thread time spent sampling
    check: Check
    metrics: dict = field(default_factory=dict)

    @property
    def ops(self) -> int:
        return int(self.per_thread_ops.sum())

    @property
    def ops_per_sec(self) -> float:
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def fairness(self) -> dict:
        ops = self.per_thread_ops.astype(float)
        mean = ops.mean()
        return {"min": int(ops.min()), "max": int(ops.max()),
                "cv": float(ops.std() / mean) if mean > 0 else 0.0}

    @property
    def latency(self) -> dict:
        return latency_percentiles(self.latencies_ns)


def latency_percentiles(samples: np.ndarray) -> dict:
    if len(samples) == 0:
        return {"p50": None, "p99": None, "p999": None, "samples": 0}
    p50, p99, p999 = np.percentile(samples, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p999": float(p999), "samples": int(len(samples))}


@dataclass
class RunResult:
    experiment: str
    variant: str
    broken: bool
    threads: int
    params: dict
    duration_s: float
    trials: list
    oversubscribed: bool
    pinned: bool
    aux_name: str
    machine: dict

    @property
    def ops_per_sec_trials(self) -> list:
        return [t.ops_per_sec for t in self.trials]

    @property
    def ops_per_sec(self) -> float:
        return float(np.median(self.ops_per_sec_trials))

    @property
    def median_trial(self) -> Trial:
        order = np.argsort(self.ops_per_sec_trials)
        return self.trials[order[(len(order) - 1) // 2]]

    @property
    def latency(self) -> dict:
        return latency_percentiles(np.concatenate([t.latencies_ns for t in self.trials]))

    @property
    def check(self) -> Check:
        failed = [t.check for t in self.trials if not t.check.passed]
        if failed:
            return Check(False, f"{len(failed)} of {len(self.trials)} trials failed; first: {failed[0].detail}")
        return Check(True, self.trials[-1].check.detail)

    def to_json(self) -> dict:
        """The CLI's ``run --json`` object."""
        trial = self.median_trial
        lat = self.latency
        rates = self.ops_per_sec_trials
        return {
            "experiment": self.experiment, "variant": self.variant, "broken": self.broken,
            "threads": self.threads, "params": self.params, "duration_s": self.duration_s,
            "ops_per_sec": self.ops_per_sec, "ops_per_sec_trials": rates,
            "ops_per_sec_min": min(rates), "ops_per_sec_max": max(rates),
            "per_thread_ops": trial.per_thread_ops.tolist(), "fairness": trial.fairness,
            "latency_ns": {k: lat[k] for k in ("p50", "p99", "p999")},
            "latency_samples": lat["samples"], "sample_every": trial.sample_every,
            "sampling_overhead": max(t.sampling_overhead for t in self.trials),
            self.aux_name: int(sum(t.per_thread_aux.sum() for t in self.trials)),
            "metrics": trial.metrics,
            "check": {"passed": self.check.passed, "detail": self.check.detail},
            "oversubscribed": self.oversubscribed, "pinned": self.pinned,
            "machine": self.machine,
        }

    def summary(self) -> str:
        """A few human lines: throughput, fairness, latency, check."""
        j = self.to_json()
        lat, f = j["latency_ns"], j["fairness"]
        fmt = lambda x: "n/a" if x is None else f"{x:,.0f}"
        return "\n".join([
            f"{self.experiment}/{self.variant} x{self.threads} threads"
            + ("  (OVERSUBSCRIBED: more threads than cores)" if self.oversubscribed else ""),
            f"  throughput  {j['ops_per_sec'] / 1e6:,.2f} Mops/s median of {len(self.trials)} "
            f"(min {j['ops_per_sec_min'] / 1e6:,.2f}, max {j['ops_per_sec_max'] / 1e6:,.2f})",
            f"  per thread  {j['per_thread_ops']}  (min/max {f['min'] / max(f['max'], 1):.2f}, cv {f['cv']:.3f})",
            f"  latency ns  p50 {fmt(lat['p50'])}  p99 {fmt(lat['p99'])}  p99.9 {fmt(lat['p999'])}  "
            f"(1 in {j['sample_every']} ops timed, ~{j['sampling_overhead']:.1%} overhead, "
            f"each sample includes ~{self.machine.get('timer_overhead_ns', 0):.0f} ns of clock read)",
            f"  check       {'PASS' if self.check.passed else 'FAIL'}: {self.check.detail}"
            + ("  (this variant is broken on purpose)" if self.broken else ""),
        ])

    def rows(self) -> list[dict]:
        """Tidy rows, one per trial (see kernlab.results)."""
        out = []
        for i, t in enumerate(self.trials):
            lat, fair = t.latency, t.fairness
            row = {
                "experiment": self.experiment, "variant": self.variant, "broken": self.broken,
                "threads": self.threads, "trial": i, "duration_s": round(t.elapsed_s, 6),
                "ops": t.ops, "ops_per_sec": t.ops_per_sec,
                "per_thread_ops": t.per_thread_ops.tolist(),
                "fairness_min": fair["min"], "fairness_max": fair["max"], "fairness_cv": fair["cv"],
                "lat_p50_ns": lat["p50"], "lat_p99_ns": lat["p99"], "lat_p999_ns": lat["p999"],
                "lat_samples": lat["samples"], "sample_every": t.sample_every,
                "sampling_overhead": t.sampling_overhead,
                "aux_name": self.aux_name, "aux": int(t.per_thread_aux.sum()),
                "check_passed": t.check.passed, "check_detail": t.check.detail,
                "oversubscribed": self.oversubscribed, "pinned": self.pinned,
                "cpu_model": self.machine.get("cpu_model"), "usable_cores": self.machine.get("usable_cores"),
            }
            row.update({f"param_{k}": v for k, v in self.params.items()})
            row.update({f"metric_{k}": v for k, v in t.metrics.items()})
            out.append(row)
        return out


# ----------------------------------------------------------------------------- running

def _validate_run_args(threads, duration, repeats):
    from .experiment import ParamError
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1 or threads > 1024:
        raise ParamError(f"threads must be an integer in [1, 1024], got {threads!r}")
    if not (0 < duration <= MAX_DURATION_S):
        raise ParamError(f"duration must be in (0, {MAX_DURATION_S:g}] seconds, got {duration!r}")
    if not isinstance(repeats, (int, np.integer)) or repeats < 1 or repeats > 1000:
        raise ParamError(f"repeats must be an integer in [1, 1000], got {repeats!r}")


def _choose_sample_every(ns_per_op: float) -> int:
    """Smallest power of two that keeps two clock reads per sample near SAMPLING_TARGET."""
    cost = 2 * timer_overhead_ns()
    k = cost / (SAMPLING_TARGET * max(ns_per_op, 0.1))
    return int(min(max(1 << int(np.ceil(np.log2(max(k, 1)))), 1), 1 << 24))


def run_trial(exp: Experiment, variant: str, threads: int, params: dict, duration: float,
              sample_every: int = 0, pin: bool = False, cancel: threading.Event | None = None) -> Trial:
    """One timed trial. ``sample_every`` 0 turns latency sampling off; otherwise a power of two."""
    v = exp.variant(variant)
    worker = make_worker(v.op)
    state = tuple(exp.setup(threads, params))
    ctl = aligned_zeros(_CTL_LEN, np.int64)
    out = padded_rows(threads, 8)
    lat = np.zeros((threads, LATENCY_CAPACITY), np.int64)
    # mask -1: only op 0 passes (n & -1) == 0, so 'off' still costs one branch per op.
    ctl[SAMPLE_MASK] = (sample_every - 1) if sample_every > 0 else -1
    ctl[DEADLINE] = time.monotonic_ns() + int((duration + DEADLINE_GRACE_S + 10.0) * 1e9)

    _compile_here(worker, out, lat, state)
    cpus = sorted(os.sched_getaffinity(0)) if pin and hasattr(os, "sched_getaffinity") else None
    errors = []

    def body(tid):
        try:
            if cpus:
                os.sched_setaffinity(0, {cpus[tid % len(cpus)]})  # 0 = this thread only
            worker(ctl, tid, out, lat, state)
        except BaseException as e:  # surfaced in the runner thread after join
            errors.append(e)
            _set(ctl, STOP, 1)

    pool = [threading.Thread(target=body, args=(i,), daemon=True, name=f"kernlab-{i}") for i in range(threads)]
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
    lats = np.concatenate([lat[i, :min(int(samples[i]), LATENCY_CAPACITY)] for i in range(threads)])
    thread_ns = max(int((out[:, T_END] - out[:, T_BEGIN]).sum()), 1)
    overhead = float(samples.sum() * 2 * timer_overhead_ns() / thread_ns)
    aux = out[:, AUX].copy()
    check = exp.check(state, ops, params)
    metrics = exp.metrics(state, ops, aux, params) if exp.metrics else {}
    return Trial(ops, aux, elapsed_ns / 1e9, lats, sample_every, overhead, check, metrics)


def _compile_here(worker, out, lat, state) -> None:
    """Compile (or load from the disk cache) in this thread, not in T workers at once:
    a cold compile can take seconds, and the start barrier should time thread start-up
    only. A control block with START and STOP already set makes the call run zero ops."""
    dry = aligned_zeros(_CTL_LEN, np.int64)
    dry[START] = dry[STOP] = 1
    dry[SAMPLE_MASK] = -1
    worker(dry, 0, out, lat, state)
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
    # release: pairs with load_acquire(START) in the harness.
    A.store_release(ctl, i, value)


def run(exp: Experiment, variant: str, threads: int, duration: float = 1.0, repeats: int = 3,
        params: dict | None = None, warmup: float = 0.1, sample_every: int | None = None,
        pin: bool = False, cancel: threading.Event | None = None) -> RunResult:
    """Warm up, then ``repeats`` counted trials. ``sample_every`` None picks it from the
    warm-up; 0 turns latency sampling off."""
    _validate_run_args(threads, duration, repeats)
    values = exp.resolve_params(params)
    v = exp.variant(variant)
    if warmup > 0:
        trial = run_trial(exp, variant, threads, values, min(warmup, duration), 0, pin, cancel)
        if sample_every is None:
            ns_per_op = trial.elapsed_s * 1e9 / max(trial.per_thread_ops.mean(), 1)
            sample_every = _choose_sample_every(ns_per_op)
    if sample_every is None:
        sample_every = 1024
    if sample_every and sample_every & (sample_every - 1):
        from .experiment import ParamError
        raise ParamError(f"sample_every must be 0 or a power of two, got {sample_every}")
    trials = [run_trial(exp, variant, threads, values, duration, sample_every, pin, cancel)
              for _ in range(repeats)]
    return RunResult(exp.name, variant, v.broken, threads, values, duration, trials,
                     oversubscribed=threads > usable_cores(), pinned=pin,
                     aux_name=exp.aux_name, machine=probe())
