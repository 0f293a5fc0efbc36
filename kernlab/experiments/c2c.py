"""The `c2c` experiment: what it costs to move one contended cache line between two CPUs.

Two threads (pinned to a pair of CPUs: ``pin=[a, b]``, ``--pin a,b``) pass a token
through one word with compare-and-swap (kernlab.primitives.pingpong); each op is one
hand-off, so ``metrics.handoff_ns`` is the one-way core-to-core latency of that pair and
``roundtrip_ns`` twice it. ``c2c_matrix`` runs every pair of CPUs and returns the table
a heatmap is drawn from (``kernlab.plots.heatmap_figure``): SMT siblings, shared caches
and sockets show up as blocks of equal latency.

Timing: every 1024th hand-off each thread notes the clock and its op count (one clock
read per thousand hand-offs); the latency is the time between its first and last note
divided by the hand-offs the whole ring made in between. Shared state: the token word
(its own line pair) and a row of notes per thread.
"""
import itertools
import os

import numpy as np

from .. import atomics as A
from ..declaration import Check, Experiment, ParamError, Variant
from ..jit import inline_kernel, kernel
from ..layout import padded_rows, padded_scalar
from ..primitives import pingpong as P

STAMP_EVERY = 1024                 # hand-offs between two clock notes of one thread
T_FIRST, N_FIRST, T_LAST, N_LAST = range(4)


@inline_kernel
def _note(stamps, tid, n):
    if (n & (STAMP_EVERY - 1)) == 0:
        t = A.now_ns()
        if n == 0:
            stamps[tid, T_FIRST] = t
            stamps[tid, N_FIRST] = n
        stamps[tid, T_LAST] = t
        stamps[tid, N_LAST] = n


@kernel
def op_cas(ctl, state, tid, n):
    word, stamps = state
    spins = P.hand_off_cas(word, n * stamps.shape[0] + tid, ctl)
    if spins >= 0:
        _note(stamps, tid, n)
    return spins


@kernel
def op_read_cas(ctl, state, tid, n):
    word, stamps = state
    spins = P.hand_off_read_cas(word, n * stamps.shape[0] + tid, ctl)
    if spins >= 0:
        _note(stamps, tid, n)
    return spins


def setup(threads, params):
    return padded_scalar(), padded_rows(threads, 4)


def check(state, per_thread_ops, params):
    word, _ = state
    performed = int(per_thread_ops.sum())
    if int(word[0]) == performed:
        return Check(True, f"token counter {performed:,} = hand-offs performed")
    return Check(False, f"token counter {int(word[0]):,} but {performed:,} hand-offs performed: a turn was lost "
                        "or taken twice")


def metrics(state, per_thread_ops, per_thread_aux, params):
    _, stamps = state
    threads = stamps.shape[0]
    per_thread = [(stamps[i, T_LAST] - stamps[i, T_FIRST]) / ((stamps[i, N_LAST] - stamps[i, N_FIRST]) * threads)
                  for i in range(threads) if stamps[i, N_LAST] > stamps[i, N_FIRST]]
    handoff = float(np.median(per_thread)) if per_thread else None
    return {"handoff_ns": handoff, "roundtrip_ns": None if handoff is None else handoff * threads,
            "failed_tries_per_handoff": float(per_thread_aux.sum() / max(int(per_thread_ops.sum()), 1))}


EXPERIMENT = Experiment(
    name="c2c",
    title="Core to core: one contended cache line ping-ponged between two CPUs",
    help="Two threads pass a token through one word with compare-and-swap; handoff_ns is the one-way "
         "latency of moving the line. Pin the pair (pin=[a, b], --pin a,b) to measure two given CPUs; "
         "kernlab.c2c_matrix measures every pair. With 1 thread: an uncontended CAS.",
    params=(),
    variants=(
        Variant("cas", op_cas, "retry the CAS until it is our turn (core-to-core-latency's method); "
                "aux counts failed tries"),
        Variant("read_cas", op_read_cas, "read until it is our turn, then one CAS; aux counts reads"),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="failed_tries",
    default_variants=("cas",),     # `kernlab run c2c` needs no --variant
)


def c2c_matrix(cpus=None, variant: str = "cas", duration: float = 0.05, repeats: int = 3,
               progress: bool = False, on_pair=None, cancel=None):
    """Run the ping-pong on every pair of ``cpus`` (default: all usable) and return a
    ResultTable (one row per trial, pinned CPUs in ``pin_cpus``). Each unordered pair is
    measured once (the line's trip is symmetric); the same CPU twice is left out (both
    threads would take turns on one CPU, which times the scheduler, not the line)."""
    from ..runner import run  # lazily: the registry imports this module, the runner is heavier
    from ..tables import ResultTable
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    chosen = sorted(set(cpus)) if cpus is not None else usable
    if len(chosen) < 2 or any(c not in usable for c in chosen):
        raise ParamError(f"cpus must list at least two of the usable CPUs {','.join(map(str, usable))}, "
                         f"got {cpus!r}")
    pairs = list(itertools.combinations(chosen, 2))
    table = ResultTable()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(pairs), desc="c2c pairs", unit="pair")
    try:
        for i, (a, b) in enumerate(pairs):
            result = run(EXPERIMENT, variant, 2, duration=duration, repeats=repeats, warmup=min(duration, 0.02),
                         sample_every=0, pin=[a, b], cancel=cancel)
            table.add(result)
            if on_pair is not None:
                on_pair(i, len(pairs), result)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return table
