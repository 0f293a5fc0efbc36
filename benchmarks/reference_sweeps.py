"""Record this machine's reference sweeps for the main experiments into data/, as results
tables (not only benchmark ratios): other machines' notebooks and `kernlab compare` load
them beside their own runs (``kernlab.reference_table(name)``).

    python benchmarks/reference_sweeps.py --tag 2core-xeon            # a few minutes on 2 cores
    python benchmarks/reference_sweeps.py --tag 2core-xeon --quick    # a smoke run

Run it on a quiet machine: the rows are measurements. Raw latency samples and traces are
left out of the saved tables (they would make the shipped files large); the percentiles stay.
"""
from __future__ import annotations

import argparse
import os
import sys

import kernlab
from kernlab.tables import ResultTable

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")


def sweeps(cores: int) -> list[tuple[str, list, list, dict]]:
    """(experiment, variants, thread counts, sweep options) of every reference sweep."""
    threads = sorted({1, 2, cores, 2 * cores})
    return [
        ("counter", ["atomic", "cas", "spinlock", "packed", "padded"], threads, {}),
        ("process_table", ["rwlock", "sharded", "rcu"], sorted({1, 2, cores}),
         {"sweep_param": "read_ratio", "sweep_values": [0.9, 0.99, 0.999]}),
        ("stats_snapshot", ["locked", "seqlock", "rcu_snapshot"], sorted({1, 2, cores}), {}),
        ("fd_table", ["rwlock", "sharded", "epoch"], sorted({1, 2, cores}), {}),
        ("lock", ["ttas", "ticket", "mcs", "mutex"], threads, {}),
        ("combining_counter", ["atomic", "mutex", "sharded", "flat_combining"], sorted({1, 2, cores}), {}),
        ("syscall_mix", ["baseline", "optimized"], sorted({1, 2, cores}), {}),
    ]


def without_bulky_columns(table: ResultTable) -> ResultTable:
    bulky = ("lat_raw_", "trace_")
    rows = [{k: v for k, v in r.items() if not k.startswith(bulky)} for r in table.rows]
    return ResultTable(rows, table.provenance)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tag", required=True, help="machine tag in the file names, e.g. 2core-xeon")
    p.add_argument("--quick", action="store_true", help="short trials (a smoke run, not a reference)")
    p.add_argument("--out-dir", default=DATA)
    args = p.parse_args(argv)
    duration, repeats = (0.1, 1) if args.quick else (0.5, 3)
    cores = kernlab.usable_cores()
    for experiment, variants, threads, options in sweeps(cores):
        table = kernlab.sweep(experiment, variants, threads, duration=duration, repeats=repeats, **options)
        path = os.path.join(args.out_dir, f"sweep-{experiment}-{args.tag}.json")
        without_bulky_columns(table).save(path)
        print(f"wrote {path}: {len(table)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
