"""The `syscall_mix` experiment: a small kernel's hot paths, end to end, one switch per pattern.

One op is one simulated system call:

    request -> permission check -> process or FD table (a lookup, or with probability
    1 - read_share an update: spawn/exit, open/close) -> statistics -> syscall counter
    -> a result buffer -> on failure (failure_share), an error message

Every step is another experiment's op, run on that experiment's own state with its own
correctness machinery: the self-checking records of process_table and fd_table (every
lookup sees a whole, live record; the final table equals the applied updates), the
permission oracle replay of permission_check, the snapshot checks of stats_snapshot,
the exact count of counter, the owner-stamped buffers of alloc, the message checksums
of small_string. The check of a run is all of theirs, each given the number of ops its
subsystem performed per thread; the metrics are theirs too, prefixed by subsystem.

Seven switches choose the implementation of each step (``SWITCHES``): ``baseline`` is
every switch off (locks, scalar scan, malloc, heap strings), ``optimized`` every switch
on (RCU, epochs, SIMD, seqlock, sharded counters: one padded slot per thread, pools,
inline strings), and ``without_<switch>`` everything on but that one: optimized minus
without_X is X's share of the gain. Any other combination is a variant too,
``with_<switch>+<switch>...`` (made, and compiled, when first asked for: the panel's
switch checkboxes name them). Each variant's op is the one template below, cloned with
the steps it calls bound as globals (as kernlab.worker binds an op into the measuring
loop), so no variant branches on the switches.

The steps are *called*, not inlined into the template: each is a whole op of its own
experiment (where the fast-path test proves it inlines its hot path), and inlining seven
of them into one loop made every variant take minutes to compile. Every variant pays
the same seven calls, so the switches are compared on equal terms; the call overhead
is part of every system call here, as a real kernel's calls between subsystems are.

Quiescent states: between two system calls a thread holds no reference into any table,
so with the RCU process table each call starts by announcing one (as the kernel counts
a return to user space). Without it a writer waiting for a grace period waits until the
other threads happen to make qs_period process-table calls, and throughput collapsed.
"""
from __future__ import annotations

import functools
import types as pytypes

import numpy as np

from ..declaration import Check, Experiment, Param, ParamError, Variant
from ..jit import kernel
from ..layout import padded_rows
from ..primitives import rcu
from ..workload import chance, probability_threshold, rng_states
from . import alloc, counter, fd_table, permission_check, process_table, small_string, stats_snapshot

# (switch, the experiment of that step, its variant when off, when on)
SWITCHES = (
    ("process_table", process_table, "mutex", "rcu"),
    ("fd_table", fd_table, "rwlock", "epoch"),
    ("permission", permission_check, "scalar", "simd"),
    ("stats", stats_snapshot, "locked", "seqlock"),
    ("counters", counter, "atomic", "padded"),
    ("buffers", alloc, "malloc", "pool"),
    ("errors", small_string, "heap", "inline"),
)
PROC, FD, PERM, STATS, COUNT, BUF, ERR = range(len(SWITCHES))
COUNTS, RNG, CFG = 0, 1, 2          # the mix's own state; SUB + i is switch i's experiment state
SUB = 3
# Tuple indices must be compile-time constants for numba: one name per step's state.
S_PROC, S_FD, S_PERM, S_STATS, S_COUNT, S_BUF, S_ERR = range(SUB, SUB + len(SWITCHES))
P_META, P_QS = process_table.META, process_table.QS
C_PROCESS, C_FAIL = 0, 1            # cfg: threshold for "a process call, not an FD call", for a failure


def _syscall(ctl, state, tid, n):
    """One system call (the template: the step globals are bound per variant)."""
    counts, rng, cfg = state[COUNTS], state[RNG], state[CFG]
    if RCU_TABLE:  # noqa: F821  (a quiescent state between calls: see the module docstring)
        rcu.quiescent(state[S_PROC][P_META], state[S_PROC][P_QS], tid)
    aux = 0
    r = STEP_PERM(ctl, state[S_PERM], tid, counts[tid, PERM])  # noqa: F821
    if r < 0:
        return -1
    counts[tid, PERM] += 1          # owner-only row, read after the join
    aux += r
    if chance(rng, tid, cfg[C_PROCESS]):
        r = STEP_PROC(ctl, state[S_PROC], tid, counts[tid, PROC])  # noqa: F821
        table = PROC
    else:
        r = STEP_FD(ctl, state[S_FD], tid, counts[tid, FD])  # noqa: F821
        table = FD
    if r < 0:
        return -1
    counts[tid, table] += 1
    aux += r
    r = STEP_STATS(ctl, state[S_STATS], tid, counts[tid, STATS])  # noqa: F821
    if r < 0:
        return -1
    counts[tid, STATS] += 1
    aux += r
    r = STEP_COUNT(ctl, state[S_COUNT], tid, counts[tid, COUNT])  # noqa: F821
    if r < 0:
        return -1
    counts[tid, COUNT] += 1
    r = STEP_BUF(ctl, state[S_BUF], tid, counts[tid, BUF])  # noqa: F821
    if r < 0:
        return -1
    counts[tid, BUF] += 1
    if chance(rng, tid, cfg[C_FAIL]):
        r = STEP_ERR(ctl, state[S_ERR], tid, counts[tid, ERR])  # noqa: F821
        if r < 0:
            return -1
        counts[tid, ERR] += 1
    return aux


_STEP_NAMES = ("STEP_PROC", "STEP_FD", "STEP_PERM", "STEP_STATS", "STEP_COUNT", "STEP_BUF", "STEP_ERR")


SWITCH_NAMES = tuple(name for name, *_ in SWITCHES)
VARIANT_NAMES = ("baseline", "optimized", *(f"without_{name}" for name in SWITCH_NAMES))


def combination(on) -> str:
    """The variant name of a set of switches that are on: baseline, optimized,
    without_<switch>, or with_<switch>+<switch>... for any other combination."""
    given = set(on)
    if given - set(SWITCH_NAMES):
        raise ParamError(f"unknown switch {sorted(given - set(SWITCH_NAMES))[0]!r}; "
                         f"switches: {', '.join(SWITCH_NAMES)}")
    on = [name for name in SWITCH_NAMES if name in given]
    if not on:
        return "baseline"
    if len(on) == len(SWITCH_NAMES):
        return "optimized"
    if len(on) == len(SWITCH_NAMES) - 1:
        return "without_" + next(name for name in SWITCH_NAMES if name not in on)
    return "with_" + "+".join(on)


def switches_on(variant: str) -> set[str] | None:
    """The switches a variant name turns on (None: not a name of this experiment)."""
    if variant == "baseline":
        return set()
    if variant == "optimized":
        return set(SWITCH_NAMES)
    if variant.startswith("without_") and variant[8:] in SWITCH_NAMES:
        return set(SWITCH_NAMES) - {variant[8:]}
    if variant.startswith("with_"):
        on = variant[5:].split("+")
        if set(on) <= set(SWITCH_NAMES) and variant == combination(on):
            return set(on)
    return None


def choices(variant: str) -> dict:
    """{switch: the step's variant} for one of this experiment's variants."""
    on = switches_on(variant)
    return {name: (high if name in on else low) for name, _, low, high in SWITCHES}


def _make_op(variant: str):
    picked = choices(variant)
    steps = {step: exp.EXPERIMENT.variant(picked[name]).op
             for step, (name, exp, _, _) in zip(_STEP_NAMES, SWITCHES, strict=True)}
    code = _syscall.__code__.replace(co_name=f"op_{variant}")
    fn = pytypes.FunctionType(code, {**globals(), **steps, "RCU_TABLE": picked["process_table"] == "rcu"},
                              code.co_name)
    fn.__module__ = __name__
    return kernel(fn)


def sub_params(params: dict) -> list[dict]:
    """Each step's experiment parameters, derived from the mix's."""
    read, skew = params["read_share"], params["key_skew"]
    given = (
        {"read_ratio": read, "table_size": params["table_size"], "key_skew": skew},
        {"read_ratio": read, "key_skew": skew},
        {"rules": params["rules"], "key_skew": min(skew, 2.0)},
        {"read_ratio": read, "writers": "all"},
        {},
        {"sizes": "syscall_mix"},
        {},
    )
    return [exp.EXPERIMENT.resolve_params(p) for (_, exp, _, _), p in zip(SWITCHES, given, strict=True)]


def setup(threads, params):
    cfg = np.array([probability_threshold(0.5), probability_threshold(params["failure_share"])], np.int64)
    subs = tuple(exp.EXPERIMENT.setup(threads, p) for (_, exp, _, _), p in zip(SWITCHES, sub_params(params),
                                                                                strict=True))
    return (padded_rows(threads, len(SWITCHES)), rng_states(threads), cfg, *subs)


def _per_step(state, params):
    counts = state[COUNTS]
    for i, ((name, exp, _, _), p) in enumerate(zip(SWITCHES, sub_params(params), strict=True)):
        yield name, exp.EXPERIMENT, state[SUB + i], counts[:, i].copy(), p


def check(state, per_thread_ops, params):
    failed, done = [], []
    for name, exp, sub, ops, p in _per_step(state, params):
        result = exp.check(sub, ops, p)
        (done if result.passed else failed).append(f"{name}: {result.detail}")
    if failed:
        return Check(False, "; ".join(failed))
    return Check(True, f"{int(per_thread_ops.sum()):,} system calls; every step's own check passed")


def metrics(state, per_thread_ops, per_thread_aux, params):
    calls = max(int(per_thread_ops.sum()), 1)
    out = {"syscalls": int(per_thread_ops.sum())}
    for name, exp, sub, ops, p in _per_step(state, params):
        out[f"{name}_share"] = float(ops.sum() / calls)
        if exp.metrics is not None:
            for key, value in exp.metrics(sub, ops, np.zeros_like(ops), p).items():
                if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                    out[f"{name}_{key}"] = float(value)
    # allocator calls per system call: the result buffers' and the error messages' (each
    # step's calls per op of its own, times its share of the calls)
    out["allocs_per_op"] = sum(out.get(f"{step}_allocs_per_op", 0.0) * out[f"{step}_share"]
                               for step in ("buffers", "errors"))
    return out


def _variant(name: str) -> Variant:
    on = switches_on(name)
    help = ("every pattern on" if name == "optimized" else
            "every pattern off: locks, scalar scan, malloc, heap strings" if name == "baseline" else
            f"every pattern on except {name.removeprefix('without_')}" if name.startswith("without_") else
            "only these patterns on: " + ", ".join(n for n in SWITCH_NAMES if n in on))
    return Variant(name, _make_op(name), help)


@functools.cache
def _combined(name: str) -> Variant | None:
    """Any other combination of switches, made (and compiled) when first asked for."""
    return _variant(name) if switches_on(name) is not None else None   # listed names never get here


EXPERIMENT = Experiment(
    name="syscall_mix",
    title="The whole kernel: a mix of system calls through every pattern, one switch each",
    help="Each op is a system call: permission check, a process or FD table lookup (or update), statistics, "
         "a counter, a result buffer and, on failure, an error message. Variants switch patterns on and off.",
    params=(
        Param("read_share", float, 0.9, "share of table and statistics operations that are reads "
              "(the catalogue says about 90%)", low=0.5, high=0.99999),
        Param("key_skew", float, 0.0, "Zipf skew of the pids and descriptors asked for (0: uniform)",
              low=0.0, high=3.0),
        Param("failure_share", float, 0.05, "share of system calls that fail and build an error message",
              low=0.0, high=1.0),
        Param("rules", int, 64, "permission rules checked on every call", low=4, high=4096, log_scale=True),
        Param("table_size", int, 1024, "processes in the process table", low=16, high=100_000, log_scale=True),
    ),
    variants=tuple(_variant(v) for v in VARIANT_NAMES),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="waits_and_retries",
    default_variants=("baseline", "optimized"),
    switches=SWITCH_NAMES,
    combination=combination,
    combined=_combined,
)
