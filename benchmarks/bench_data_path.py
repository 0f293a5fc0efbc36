"""Data-path benchmarks (issue: SIMD permission checks and prefetching). Side by side in
one run, interleaved, so that machine noise hits every contender alike; medians and
min..max over rounds; ratios paired within a round.

1. `permission_check` at 1 thread, match_at=none (full scan): simd / scalar (and /
   branchless, / indexed) over ``--rules`` (target: simd / scalar >= 4 at 64 rules),
   with the vector width the simd op was compiled to (read from its assembly);
2. `prefetch` at a DRAM-sized working set (``--dram-bytes``, default 1 GiB of 64-byte
   records), 1 thread: random_prefetch / random (target >= 1.3); sequential against a
   numpy sum over the same bytes (bytes per second; target: within 1.2x), at one record
   per op and at ``--batch`` records per op (the measuring loop paid once per batch);
3. the linked list at the same set, for the staircase's last step.

    python benchmarks/bench_data_path.py [--rounds 5] [--duration 1.0] [--out data/...json]
    python benchmarks/bench_data_path.py --rounds 1 --duration 0.2 --dram-bytes 4194304 --out /tmp/x.json  # smoke

Do not run it while anything else heavy runs on the machine.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from _common import print_figures, save, summary

from kernlab.codeview import op_code, op_function, vector_summary
from kernlab.experiments import get
from kernlab.experiments import prefetch as PF
from kernlab.runner import run_trial

RULE_VARIANTS = ("scalar", "branchless", "simd", "indexed")
WALKS = ("sequential", "random", "random_prefetch", "linked_list")
RECORD_BYTES = 64


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians over these)")
    ap.add_argument("--duration", type=float, default=1.0, help="seconds per trial")
    ap.add_argument("--out", default=None, help="JSON file for the figures and raw values (default: print only)")
    ap.add_argument("--rules", default="4,16,64,256,1024,4096", help="rule-table sizes, comma-separated")
    ap.add_argument("--dram-bytes", type=int, default=1 << 30, help="working set of the DRAM-sized walks")
    ap.add_argument("--prefetch-distance", type=int, default=16, help="records ahead for random_prefetch")
    ap.add_argument("--batch", type=int, default=64, help="records per op of the batched sequential walk")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rules = [int(x) for x in args.rules.split(",")]
    pc, pf = get("permission_check"), get("prefetch")
    rule_params = {n: pc.resolve_params({"rules": n, "match_at": "none"}) for n in rules}
    walk_params = pf.resolve_params({"records": args.dram_bytes // RECORD_BYTES, "record_bytes": RECORD_BYTES,
                                     "prefetch_distance": args.prefetch_distance})
    # load or compile every worker, and build the tables, before anything is timed
    for v in RULE_VARIANTS:
        run_trial(pc, v, 1, rule_params[rules[0]], 0.02, sample_every=0)
    batched = {**walk_params, "records_per_op": args.batch}
    for v in WALKS:
        run_trial(pf, v, 1, walk_params, 0.02, sample_every=0)
    run_trial(pf, "sequential", 1, batched, 0.02, sample_every=0)
    width = vector_summary(op_function(op_code("permission_check", "simd")))

    raw: dict = {}
    checks: dict = {}
    d = args.duration
    for r in range(args.rounds):
        for n in rules:
            for v in RULE_VARIANTS:
                trial = run_trial(pc, v, 1, rule_params[n], d, sample_every=0)
                raw.setdefault(f"rules_{v}_{n}", []).append(trial.ops_per_sec)
                checks[f"rules_{v}_{n}"] = checks.get(f"rules_{v}_{n}", True) and trial.check.passed
        for v in WALKS:
            trial = run_trial(pf, v, 1, walk_params, d, sample_every=0)
            raw.setdefault(f"walk_{v}", []).append(trial.ops_per_sec)
            checks[f"walk_{v}"] = checks.get(f"walk_{v}", True) and trial.check.passed
        trial = run_trial(pf, "sequential", 1, batched, d, sample_every=0)
        raw.setdefault("walk_sequential_batched", []).append(trial.ops_per_sec * args.batch)   # records/s
        checks["walk_sequential_batched"] = checks.get("walk_sequential_batched", True) and trial.check.passed
        # the very records the walks read, summed by numpy
        raw.setdefault("numpy_sum_bytes_per_s", []).append(PF.numpy_sum_bytes_per_s(walk_params, d))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    ratio = lambda a, b: summary(np.array(raw[a]) / np.array(raw[b]))
    figures = {f"simd_over_scalar_{n}rules": ratio(f"rules_simd_{n}", f"rules_scalar_{n}") for n in rules}
    figures.update({f"simd_over_branchless_{n}rules": ratio(f"rules_simd_{n}", f"rules_branchless_{n}")
                    for n in rules})
    figures.update({f"indexed_over_scalar_{n}rules": ratio(f"rules_indexed_{n}", f"rules_scalar_{n}") for n in rules})
    figures["random_prefetch_over_random_dram"] = ratio("walk_random_prefetch", "walk_random")
    seq_bytes = np.array(raw["walk_sequential"]) * RECORD_BYTES
    figures["sequential_over_numpy_sum_bytes"] = summary(seq_bytes / np.array(raw["numpy_sum_bytes_per_s"]))
    batched_bytes = np.array(raw["walk_sequential_batched"]) * RECORD_BYTES
    figures[f"sequential_{args.batch}_per_op_over_numpy_sum_bytes"] = summary(
        batched_bytes / np.array(raw["numpy_sum_bytes_per_s"]))
    ns = {k: summary(1e9 / np.array(v)) for k, v in raw.items() if k.startswith(("rules_", "walk_"))}
    print_figures(figures)
    print(f"\nsimd op compiled to: {width}")
    print(f"ns per check (median of {args.rounds}), match_at=none, 1 thread:")
    for n in rules:
        print(f"  {n:5d} rules  " + "  ".join(f"{v} {ns[f'rules_{v}_{n}']['median']:9.1f}" for v in RULE_VARIANTS))
    print(f"ns per record at {args.dram_bytes >> 20} MiB: "
          + "  ".join(f"{v} {ns[f'walk_{v}']['median']:.1f}" for v in WALKS)
          + f"  sequential at {args.batch} per op {ns['walk_sequential_batched']['median']:.1f}"
          + f"  numpy sum {1e9 * RECORD_BYTES / np.median(raw['numpy_sum_bytes_per_s']):.1f}")
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        print(f"CHECK FAILED: {failed}", file=sys.stderr)
    save(args.out, "data_path", args, argv, rule_params=rule_params, walk_params=walk_params,
         batched_walk_params=batched, simd_width=width,
         figures=figures, ns=ns, checks=checks, raw=raw)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
