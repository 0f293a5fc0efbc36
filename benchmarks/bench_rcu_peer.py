"""kernlab's RCU lookup against the real peer: the same table read through liburcu's QSBR
flavour in C (kernlab/csrc/rcu_table_qsbr.c), side by side, interleaved rounds.

1. `process_table` `rcu` at 2 threads, read_ratio 0.99999, table_size 1024, quiescent
   state every QS_PERIOD lookups, vs the C reader at 2 threads (target >= 0.9x);
2. the unsynchronised floor: `unsync` at 1 thread vs the C table's plain lookup;
3. where kernlab's nanoseconds go: the `lookup_cost` breakdown at 1 thread.

Needs gcc and liburcu (Debian: `apt-get install liburcu-dev`); says so and stops if either
is missing.

    python benchmarks/bench_rcu_peer.py [--rounds 5] [--duration 1.0] [--out data/bench_rcu_peer.json]

Do not run it while anything else heavy runs on the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from _common import MissingPeer, build_c, parse_args, print_figures, save, summary

from kernlab.experiments import get
from kernlab.runner import run_trial

TABLE_SIZE = 1024
QS_PERIOD = 1024
READ_RATIO = 0.99999


def c_rate(exe: str, threads: int, duration: float, mode: str) -> float:
    out = subprocess.run([exe, str(threads), str(duration), str(TABLE_SIZE), str(QS_PERIOD), mode],
                         capture_output=True, text=True, check=True).stdout
    ops, ns, errors = map(int, out.split())
    assert errors == 0, f"the C peer's record check failed {errors} times"
    return ops / ns * 1e9


def main(argv=None):
    args = parse_args(argv)
    try:
        exe = build_c("rcu_table_qsbr", ["-lurcu-qsbr"], hint="is liburcu-dev installed? apt-get install liburcu-dev")
    except MissingPeer as e:
        print(f"bench_rcu_peer: skipped, no C peer: {e}", file=sys.stderr)
        return
    table = get("process_table")
    mixed = table.resolve_params({"read_ratio": READ_RATIO, "table_size": TABLE_SIZE, "qs_period": QS_PERIOD})
    read_only = table.resolve_params({"read_only": True, "table_size": TABLE_SIZE, "qs_period": QS_PERIOD})
    cost = get("lookup_cost")
    cost_params = cost.resolve_params({"table_size": TABLE_SIZE, "qs_period": QS_PERIOD})
    kernlab_rate = lambda trial, key: (trial.ops_per_sec if trial.check.passed
                                       else sys.exit(f"{key}: check failed: {trial.check.detail}"))
    points = {   # each kernlab point next to its C twin, so a pair meets the same machine weather
        "kernlab_rcu_2": lambda d: kernlab_rate(run_trial(table, "rcu", 2, mixed, d, sample_every=0), "rcu"),
        "c_qsbr_2": lambda d: c_rate(exe, 2, d, "rcu"),
        "kernlab_unsync_1": lambda d: kernlab_rate(run_trial(table, "unsync", 1, read_only, d, sample_every=0),
                                                   "unsync"),
        "c_plain_1": lambda d: c_rate(exe, 1, d, "plain"),
        **{f"cost_{v}": (lambda d, v=v: kernlab_rate(run_trial(cost, v, 1, cost_params, d, sample_every=0), v))
           for v in cost.variant_names()},
    }
    for f in points.values():                                # load or compile before timing
        f(0.02)

    raw = {k: [] for k in points}
    for r in range(args.rounds):
        for key, f in points.items():
            raw[key].append(f(args.duration))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    ratio = lambda a, b: summary(np.array(raw[a]) / np.array(raw[b]))   # paired within a round
    figures = {
        "rcu_2threads_kernlab_over_liburcu_qsbr (target >= 0.9)": ratio("kernlab_rcu_2", "c_qsbr_2"),
        "plain_lookup_1thread_kernlab_over_c": ratio("kernlab_unsync_1", "c_plain_1"),
    }
    ns = {k: 1e9 / np.array(v) for k, v in raw.items() if k.startswith("cost_")}
    names = cost.variant_names()
    for prev, cur in zip(["(nothing)", *names[:-1]], names):
        base = ns[f"cost_{prev}"] if prev != "(nothing)" else 0.0
        figures[f"ns_per_lookup_added_by_{cur}"] = summary(ns[f"cost_{cur}"] - base)
    for key in raw:
        figures[f"{key}_mops"] = summary(np.array(raw[key]) / 1e6)
    print_figures(figures)
    save(args.out, "rcu_peer", args, argv, params={"process_table": mixed, "lookup_cost": cost_params,
                                                   "c": {"table_size": TABLE_SIZE, "qs_period": QS_PERIOD}},
         figures=figures, raw=raw)


if __name__ == "__main__":
    main()
