"""Your machine's fabric (issue 13), recorded: the core-to-core latency of every pair of
CPUs, the cost ladder, and the litmus-test counts, with the machine's topology.

1. `c2c` on every unordered pair of usable CPUs (``--cpus`` to choose), ``--rounds``
   trials of ``--pair-duration`` each: the one-way hand-off latency matrix (median and
   min..max per pair), which notebook 14 draws as a heatmap;
2. the cost ladder (``kernlab.measure_ladder``), ``--rounds`` trials of ``--duration``
   per rung: ns per operation, median and min..max;
3. every `litmus` variant, unpinned and with both threads pinned to one CPU, ``--rounds``
   trials of ``--litmus-duration``: reorders per million, median and min..max, and
   whether a fenced variant ever saw its forbidden outcome (it must not).

    python benchmarks/bench_fabric.py [--rounds 5] [--duration 0.5] [--out data/bench-fabric-NNcore.json]

Notebook 14 loads the newest data/bench-fabric-*.json measured on more CPUs than the
machine it runs on. Run it on a quiet machine; the pair sweep takes about
pairs x rounds x pair-duration (64 CPUs: 2016 pairs, ~6 min at the defaults).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import print_figures, save

from kernlab.experiments import get
from kernlab.experiments.c2c import c2c_matrix
from kernlab.experiments.cost_ladder import ladder_costs, measure_ladder
from kernlab.experiments.litmus import reorder_summary
from kernlab.machine import cpu_topology, usable_cores
from kernlab.plots.fabric import pair_matrix
from kernlab.runner import run
from kernlab.tables import ResultTable


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="trials per point (medians over these)")
    ap.add_argument("--duration", type=float, default=0.5, help="seconds per cost-ladder trial")
    ap.add_argument("--pair-duration", type=float, default=0.05, help="seconds per c2c pair trial")
    ap.add_argument("--litmus-duration", type=float, default=1.0, help="seconds per litmus trial")
    ap.add_argument("--cpus", help="comma-separated CPUs for the c2c matrix (default: all usable)")
    ap.add_argument("--out", default=None, help="JSON file for the figures and raw values (default: print only)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cpus = [int(c) for c in args.cpus.split(",")] if args.cpus else None
    topology = cpu_topology()
    c2c = pair_matrix(c2c_matrix(cpus, duration=args.pair_duration, repeats=args.rounds, progress=True))
    print(f"c2c: {len(c2c['cpus'])} CPUs measured", file=sys.stderr)

    ladder = ladder_costs(measure_ladder(duration=args.duration, repeats=args.rounds))

    litmus_exp = get("litmus")
    litmus = ResultTable()
    first = topology[0]["cpu"]
    for variant in litmus_exp.variant_names():
        for pin in ("none", [first, first]):
            litmus.add(run(litmus_exp, variant, 2, duration=args.litmus_duration, repeats=args.rounds,
                           sample_every=0, pin=pin))
    summary = reorder_summary(litmus)
    raw_rates = {}
    for r in litmus.rows:
        key = f"{r['variant']}_{'one_cpu' if r['pinned'] else 'unpinned'}"
        raw_rates.setdefault(key, []).append(r.get("metric_reorders_per_million", 0.0))

    figures = {f"ladder_{c['rung']}_ns": {"median": c["median_ns"], "min": c["min_ns"], "max": c["max_ns"],
                                          "n": c["trials"]} for c in ladder}
    for s in summary:
        key = f"litmus_{s['variant']}_{'unpinned' if s['pin'] == 'none' else 'one_cpu'}_per_million"
        figures[key] = {"median": s["median"], "min": s["min"], "max": s["max"], "n": s["trials"]}
    print_figures(figures)
    failed = [s for s in summary if not s["check_passed"] and not litmus_exp.variant(s["variant"]).broken]
    if failed:
        print(f"CHECK FAILED (a forbidden outcome was seen): {[s['variant'] for s in failed]}", file=sys.stderr)
    save(args.out, "fabric", args, argv, usable_cores=usable_cores(), topology=topology, c2c=c2c,
         ladder=ladder, litmus=summary, figures=figures, raw={"litmus_per_million": raw_rates})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
