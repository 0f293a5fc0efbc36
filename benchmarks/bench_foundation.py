"""Foundation benchmarks (issue: foundation). Side by side in one run, interleaved, so
that machine noise hits every contender alike; medians and min..max over rounds.

1. single-thread `atomic` counter: kernlab vs the same loop in C (gcc -O2, C11 atomics);
2. runner overhead: an op that does nothing, ns per op; and proof the loop really runs
   (twice the duration gives twice the ops);
3. scaling on this machine: `padded` 2 threads vs 1, `packed` vs `padded` at 2 threads.

    python benchmarks/bench_foundation.py [--rounds 5] [--duration 1.0] [--out data/...json]

Do not run it while anything else heavy runs on the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from _common import build_c, parse_args, print_figures, save, summary

from kernlab.declaration import Check, Experiment, Variant
from kernlab.experiments import get
from kernlab.jit import kernel
from kernlab.runner import run_trial
from kernlab.worker import make_worker


def c_rate(exe: str, duration: float) -> float:
    ops, ns = map(int, subprocess.run([exe, str(duration)], capture_output=True, text=True,
                                      check=True).stdout.split())
    return ops / ns * 1e9


@kernel
def op_noop(ctl, state, tid, n):
    return 0


def noop_trial(duration: float):
    """The bare harness: per-thread ops and elapsed for an op that does nothing."""
    exp = Experiment("noop", "harness only", "", (), (Variant("noop", op_noop, ""),),
                     setup=lambda t, p: (np.zeros(1, np.int64),), check=lambda s, o, p: Check(True, ""))
    return run_trial(exp, "noop", 1, {}, duration, sample_every=0)


def main(argv=None):
    args = parse_args(argv)
    counter = get("counter")
    params = counter.resolve_params()
    exe = build_c("counter_atomic")
    make_worker(op_noop)
    for v in ("atomic", "padded", "packed"):  # load or compile before timing
        run_trial(counter, v, 1, params, 0.05)
    noop_trial(0.05)

    raw = {k: [] for k in ("c_atomic", "kernlab_atomic", "kernlab_atomic_sampled", "noop_ns_per_op",
                           "noop_ops_1x", "noop_ops_2x", "padded_1", "padded_2", "packed_2", "atomic_2")}
    d = args.duration
    for r in range(args.rounds):
        raw["c_atomic"].append(c_rate(exe, d))
        raw["kernlab_atomic"].append(run_trial(counter, "atomic", 1, params, d, sample_every=0).ops_per_sec)
        raw["kernlab_atomic_sampled"].append(run_trial(counter, "atomic", 1, params, d, sample_every=4096).ops_per_sec)
        t1, t2 = noop_trial(d / 2), noop_trial(d)
        raw["noop_ns_per_op"].append(t2.elapsed_s * 1e9 / t2.ops)
        raw["noop_ops_1x"].append(t1.ops)
        raw["noop_ops_2x"].append(t2.ops)
        for v, t, key in (("padded", 1, "padded_1"), ("padded", 2, "padded_2"),
                          ("packed", 2, "packed_2"), ("atomic", 2, "atomic_2")):
            trial = run_trial(counter, v, t, params, d, sample_every=0)
            assert trial.check.passed, trial.check.detail
            raw[key].append(trial.ops_per_sec)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    ratio = lambda a, b: summary(np.array(raw[a]) / np.array(raw[b]))  # paired within a round
    figures = {
        "kernlab_vs_c_atomic_1thread": ratio("kernlab_atomic", "c_atomic"),
        "kernlab_sampled_vs_c_atomic_1thread": ratio("kernlab_atomic_sampled", "c_atomic"),
        "sampling_cost": summary(1 - np.array(raw["kernlab_atomic_sampled"]) / np.array(raw["kernlab_atomic"])),
        "runner_overhead_ns_per_op": summary(raw["noop_ns_per_op"]),
        "noop_ops_2x_over_1x": ratio("noop_ops_2x", "noop_ops_1x"),
        "padded_2_over_1": ratio("padded_2", "padded_1"),
        "padded_over_packed_2threads": ratio("padded_2", "packed_2"),
        "atomic_2_over_1": ratio("atomic_2", "kernlab_atomic"),
        "c_atomic_mops": summary(np.array(raw["c_atomic"]) / 1e6),
        "kernlab_atomic_mops": summary(np.array(raw["kernlab_atomic"]) / 1e6),
    }
    print_figures(figures)
    save(args.out, "foundation", args, argv, figures=figures, raw=raw)


if __name__ == "__main__":
    main()
