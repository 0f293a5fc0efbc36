"""Write-contention benchmarks (issue: write contention). Side by side in one run,
interleaved, so that machine noise hits every contender alike; medians and min..max
over rounds; ratios paired within a round.

1. uncontended TTAS acquire+release vs one compare-exchange plus one store (the floor
   for any lock), both through the same harness, one thread (target: ratio <= 1.2);
2. `combining_counter`: `sharded` at 2 threads vs 1 (target >= 1.8), `flat_combining`
   vs `mutex` at 2 threads (target > 1);
3. every lock of the zoo at 1, 2, 4 and 8 threads, and every counter variant at 1 and
   2 threads (the oversubscribed points are flagged).

    python benchmarks/bench_write_contention.py [--rounds 5] [--duration 1.0] [--out data/...json]

Do not run it while anything else heavy runs on the machine.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from _common import parse_args, print_figures, save, summary

from kernlab import atomics as A
from kernlab.declaration import Check, Experiment, Variant
from kernlab.experiments import get
from kernlab.jit import kernel
from kernlab.layout import aligned_zeros
from kernlab.machine import usable_cores
from kernlab.primitives import locks as L
from kernlab.runner import run_trial

LOCK_THREADS = (1, 2, 4, 8)
COUNTER_THREADS = (1, 2)


@kernel
def op_cas_store(ctl, state, tid, n):
    word = state[0]
    # acquire / release: the same orderings a lock's fast path uses.
    A.cas_acquire(word, 0, 0, 1)
    A.store_release(word, 0, 0)
    return 0


@kernel
def op_ttas_bare(ctl, state, tid, n):
    word = state[0]
    w = L.ttas_acquire(word, 0, ctl)
    if w < 0:
        return -1
    L.ttas_release(word, 0)
    return w


FLOOR = Experiment("lock_floor", "uncontended lock fast path", "", (),
                   (Variant("cas_store", op_cas_store, ""), Variant("ttas", op_ttas_bare, "")),
                   setup=lambda t, p: (aligned_zeros(16, np.int64),),
                   check=lambda s, o, p: Check(True, ""))



def main(argv=None):
    args = parse_args(argv)
    lock, counter = get("lock"), get("combining_counter")
    lock_params, counter_params = lock.resolve_params(), counter.resolve_params()
    locks = [v.name for v in lock.variants if not v.broken]
    counters = counter.variant_names()
    # load or compile every worker before anything is timed
    for v in ("cas_store", "ttas"):
        run_trial(FLOOR, v, 1, {}, 0.02, sample_every=0)
    for v in locks:
        run_trial(lock, v, 1, lock_params, 0.02, sample_every=0)
    for v in counters:
        run_trial(counter, v, 1, counter_params, 0.02, sample_every=0)

    raw: dict = {"floor_cas_store": [], "floor_ttas": []}
    checks: dict = {}
    d = args.duration
    for r in range(args.rounds):
        for v in ("cas_store", "ttas"):
            raw[f"floor_{v}"].append(run_trial(FLOOR, v, 1, {}, d, sample_every=0).ops_per_sec)
        for v in locks:
            for t in LOCK_THREADS:
                trial = run_trial(lock, v, t, lock_params, d, sample_every=0)
                raw.setdefault(f"lock_{v}_{t}", []).append(trial.ops_per_sec)
                raw.setdefault(f"lock_{v}_{t}_fairness_cv", []).append(trial.fairness["cv"])
                checks[f"lock_{v}_{t}"] = checks.get(f"lock_{v}_{t}", True) and trial.check.passed
        for v in counters:
            for t in COUNTER_THREADS:
                trial = run_trial(counter, v, t, counter_params, d, sample_every=0)
                raw.setdefault(f"counter_{v}_{t}", []).append(trial.ops_per_sec)
                checks[f"counter_{v}_{t}"] = checks.get(f"counter_{v}_{t}", True) and trial.check.passed
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    ratio = lambda a, b: summary(np.array(raw[a]) / np.array(raw[b]))
    figures = {
        "ttas_over_cas_store_time_1thread": ratio("floor_cas_store", "floor_ttas"),   # time ratio = inverse rates
        "sharded_2_over_1": ratio("counter_sharded_2", "counter_sharded_1"),
        "flat_combining_over_mutex_2threads": ratio("counter_flat_combining_2", "counter_mutex_2"),
        "flat_combining_over_atomic_2threads": ratio("counter_flat_combining_2", "counter_atomic_2"),
    }
    mops = {k: summary(np.array(v) / 1e6) for k, v in raw.items()
            if k.startswith(("lock_", "counter_", "floor_")) and not k.endswith("_cv")}
    cores = usable_cores()
    print_figures(figures)
    print(f"\nside by side (Mops/s, median of {args.rounds}; * = more threads than the {cores} cores)")
    for v in locks:
        print(f"  lock {v:8s} " + "  ".join(
            f"x{t}{'*' if t > cores else ' '} {mops[f'lock_{v}_{t}']['median']:8.2f} "
            f"(cv {np.median(raw[f'lock_{v}_{t}_fairness_cv']):.2f})" for t in LOCK_THREADS))
    for v in counters:
        print(f"  counter {v:15s} " + "  ".join(
            f"x{t} {mops[f'counter_{v}_{t}']['median']:9.2f}" for t in COUNTER_THREADS)
            + ("   (broken on purpose: its check fails)" if counter.variant(v).broken else ""))
    failed = [k for k, ok in checks.items() if not ok and not k.startswith("counter_seed_design")]
    if failed:
        print(f"CHECK FAILED: {failed}", file=sys.stderr)
    save(args.out, "write_contention", args, argv, lock_params=lock_params, figures=figures, mops=mops,
         checks=checks, raw=raw)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
