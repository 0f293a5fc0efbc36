"""The measuring loop, compiled around each op: one worker per variant.

Every variant runs inside the same loop (``_measure``), so contenders pay the same
harness: a relaxed load of the stop flag per op and one compare that decides whether
this op needs bookkeeping — a clock read for the deadline every
``DEADLINE_CHECK_EVERY`` ops, or a latency sample.

Latency samples are taken at *pseudo-random* op indices: after each sample the next one
is drawn ``1 .. 2K-1`` ops later (mean K = ``sample_every``). A fixed stride (``n & mask
== 0``) lines up with periodic work in the op (a quiescent state every 16 ops, a stall
every 1024) and would time always or never exactly those ops; random gaps sample every
residue alike, so periodic bookkeeping lands in the percentiles at its true share.
With sampling off no op is timed.
"""
from __future__ import annotations

import inspect
import types as pytypes

import numpy as np
from numba import njit

from . import atomics as A
from .harness import DEADLINE, READY, SAMPLE_EVERY, START, STOP, should_abandon
from .jit import OPTIONS, keyed
from .workload import FIBONACCI

# Per-thread result row, written once by its own worker when it leaves the loop.
OPS, AUX, T_BEGIN, T_END, SAMPLES = range(5)

DEADLINE_CHECK_EVERY = 1024         # ops between two clock reads for the deadline
NEVER = np.int64(1) << np.int64(62)


def _measure(ctl, tid, out, lat, state):
    # `op` is not defined here: make_worker binds it as a global of each clone.
    sample_every = A.load_relaxed(ctl, SAMPLE_EVERY)      # 0: sampling off
    ring_mask = lat.shape[1] - 1
    rng = (np.uint64(tid) + np.uint64(1)) * FIBONACCI        # xorshift64 state, never 0
    # release: pairs with load_acquire(READY) in the runner (it only counts us).
    A.fetch_add_release(ctl, READY, 1)
    spins = 0
    # acquire: pairs with store_release(START) in the runner.
    while A.load_acquire(ctl, START) == 0:
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            break
    # relaxed: the runner sets the final deadline before releasing START (acquired above).
    deadline = A.load_relaxed(ctl, DEADLINE)
    n = np.int64(0)
    aux = np.int64(0)
    samples = np.int64(0)
    next_check = np.int64(DEADLINE_CHECK_EVERY)
    next_sample = NEVER
    if sample_every > 0:
        rng ^= rng << np.uint64(13)
        rng ^= rng >> np.uint64(7)
        rng ^= rng << np.uint64(17)
        next_sample = np.int64(rng % np.uint64(2 * sample_every - 1))
    next_slow = min(next_check, next_sample)
    begin = A.now_ns()
    # relaxed: STOP carries no data (see harness.stopping).
    while A.load_relaxed(ctl, STOP) == 0:
        if n != next_slow:
            r = op(ctl, state, tid, n)  # noqa: F821
        else:
            if n == next_check:
                if A.now_ns() > deadline:
                    break
                next_check += DEADLINE_CHECK_EVERY
            if n == next_sample:
                t0 = A.now_ns()
                r = op(ctl, state, tid, n)  # noqa: F821
                lat[tid, samples & ring_mask] = A.now_ns() - t0
                samples += 1
                rng ^= rng << np.uint64(13)
                rng ^= rng >> np.uint64(7)
                rng ^= rng << np.uint64(17)
                next_sample = n + 1 + np.int64(rng % np.uint64(2 * sample_every - 1))
            else:
                r = op(ctl, state, tid, n)  # noqa: F821
            next_slow = min(next_check, next_sample)
        if r < 0:
            break
        aux += r
        n += 1
    out[tid, T_END] = A.now_ns()
    out[tid, T_BEGIN] = begin
    out[tid, OPS] = n
    out[tid, AUX] = aux
    out[tid, SAMPLES] = samples


_workers: dict = {}


def make_worker(op):
    """The measuring loop compiled around one op.

    The op is inlined into the loop in numba's IR, through a twin dispatcher with
    ``inline="always"`` (the op's own dispatcher stays callable from Python). Left to
    LLVM, an op too big to inline stays a call, and a call passes every array of the
    state tuple by value, about seven words each: measured 40-90 ns per lock op against
    3-11 ns inlined.

    Passing the op as an argument would work too, but numba then keys its disk cache by
    a per-process id and recompiles in every process. Instead each op gets a clone of
    ``_measure`` whose globals bind ``op``; the clone is cached next to the op's source
    file under a name carrying the op's name (and, through ``jit.keyed``, the digest of
    the sources).
    """
    worker = _workers.get(op)
    if worker is None:
        src = op.py_func
        code = _measure.__code__.replace(co_filename=inspect.getfile(src),
                                         co_name=f"worker_{src.__name__}")
        inlined = njit(inline="always", **OPTIONS)(src)
        fn = pytypes.FunctionType(code, {**_measure.__globals__, "op": inlined}, code.co_name)
        fn.__module__ = src.__module__
        worker = _workers[op] = njit(**OPTIONS)(keyed(fn, f"worker_{src.__name__}"))
    return worker

