"""Read-mostly benchmarks (issue: read-mostly patterns). Side by side in one run,
interleaved, so that machine noise hits every contender alike; medians and min..max
over rounds; ratios paired within a round.

1. `process_table` read-only lookups, one thread: `rcu` time per lookup over `unsync`
   (no synchronization at all) (target <= 1.3), and `rcu` at 2 threads over 1 (target >= 1.8);
2. `stats_snapshot` read-only snapshots: `seqlock` time per read over `unsync` (a plain
   copy), 1 and 2 threads (target <= 1.5); `locked` for reference;
3. `process_table` lookup-heavy mixes: `rcu`, `sharded` and `rwlock` at read_ratio 0.999
   and 0.9, 1 and 2 threads, and the ratios rcu/sharded, rcu/rwlock, sharded/rwlock.

Throughput is every operation (lookups and, in 3, the updates among them).

    python benchmarks/bench_read_mostly.py [--rounds 5] [--duration 1.0] [--out data/...json]

Do not run it while anything else heavy runs on the machine.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from _common import parse_args, print_figures, save, summary

from kernlab.experiments import get
from kernlab.runner import run_trial

MIX_RATIOS = (0.999, 0.9)
MIX_VARIANTS = ("rcu", "sharded", "rwlock")
THREADS = (1, 2)



def points():
    """(key, experiment, variant, threads, params) for every contender, in round order."""
    out = []
    for t in THREADS:
        for v in ("rcu", "unsync"):
            out.append((f"pt_ro_{v}_{t}", "process_table", v, t, {"read_only": True}))
        for v in ("seqlock", "unsync", "locked"):
            out.append((f"ss_ro_{v}_{t}", "stats_snapshot", v, t, {"read_only": True}))
        for rr in MIX_RATIOS:
            for v in MIX_VARIANTS:
                out.append((f"pt_{rr}_{v}_{t}", "process_table", v, t, {"read_ratio": rr}))
    return out


def main(argv=None):
    args = parse_args(argv)
    plan = points()
    exps = {name: get(name) for name in ("process_table", "stats_snapshot")}
    resolved = {key: exps[e].resolve_params(p) for key, e, _, _, p in plan}
    for key, e, v, t, _ in plan:                       # load or compile before timing
        run_trial(exps[e], v, t, resolved[key], 0.02, sample_every=0)

    raw = {key: [] for key, *_ in plan}
    for r in range(args.rounds):
        for key, e, v, t, _ in plan:
            trial = run_trial(exps[e], v, t, resolved[key], args.duration, sample_every=0)
            assert trial.check.passed, (key, trial.check.detail)
            raw[key].append(trial.ops_per_sec)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    ratio = lambda a, b: summary(np.array(raw[a]) / np.array(raw[b]))   # paired within a round
    figures = {
        # time per op = 1 / rate, so time(a) / time(b) = rate(b) / rate(a)
        "rcu_over_unsync_time_1thread (target <= 1.3)": ratio("pt_ro_unsync_1", "pt_ro_rcu_1"),
        "rcu_readonly_2_over_1 (target >= 1.8)": ratio("pt_ro_rcu_2", "pt_ro_rcu_1"),
    }
    for t in THREADS:
        figures[f"seqlock_over_unsync_time_{t}thread (target <= 1.5)"] = ratio(f"ss_ro_unsync_{t}",
                                                                               f"ss_ro_seqlock_{t}")
        figures[f"seqlock_over_locked_rate_{t}thread"] = ratio(f"ss_ro_seqlock_{t}", f"ss_ro_locked_{t}")
    for rr in MIX_RATIOS:
        for t in THREADS:
            for a, b in (("rcu", "sharded"), ("rcu", "rwlock"), ("sharded", "rwlock")):
                figures[f"{a}_over_{b}_rate_rr{rr}_{t}thread"] = ratio(f"pt_{rr}_{a}_{t}", f"pt_{rr}_{b}_{t}")
    for key in raw:
        figures[f"{key}_mops"] = summary(np.array(raw[key]) / 1e6)
    print_figures(figures)
    save(args.out, "read_mostly", args, argv, params={key: resolved[key] for key in raw}, figures=figures, raw=raw)


if __name__ == "__main__":
    main()
