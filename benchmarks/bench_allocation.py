"""Allocation benchmarks (issue: allocation). Side by side in one run, interleaved, so
that machine noise hits every contender alike; medians and min..max over rounds; ratios
paired within a round.

1. `alloc` at 64-byte results, 1 thread: `pool` and `arena` against `malloc` (glibc)
   (target >= 2x) with >= 90% fewer allocator calls per op; `numpy` beside them; `stack`
   (no allocation) is the ceiling they are compared with;
2. the allocator swap: the `malloc` variant with every allocator installed here
   (jemalloc, mimalloc, tcmalloc) against glibc's, at 1 and 2 threads. Every allocator,
   glibc included, runs in its own child process (``kernlab.child``), so all pay the
   same process start; a missing one is listed with the package to install;
3. `small_string`: inline against heap at 1 thread, with the share of messages that fit.

    python benchmarks/bench_allocation.py [--rounds 5] [--duration 1.0] [--out data/...json]

Do not run it while anything else heavy runs on the machine.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from _common import parse_args, print_figures, save, summary

from kernlab.child import run_in_child
from kernlab.experiments import _alloc_support as S
from kernlab.experiments import get
from kernlab.runner import run_trial

SOURCES = ("malloc", "pool", "arena", "stack", "numpy")   # the contenders next to malloc, their baseline
SWAP_THREADS = (1, 2)


def _swap(alloc, name: str, threads: int, duration: float):
    """The malloc variant under allocator ``name``, in a child process (glibc too)."""
    params = alloc.resolve_params({"allocator": name})
    env = S.child_env(params) or {"KERNLAB_ALLOCATOR": "system"}
    return run_in_child(alloc, "malloc", threads, duration, 1, params, 0.1, 0, False, None, env)


def main(argv=None):
    args = parse_args(argv)
    alloc, strings = get("alloc"), get("small_string")
    params, string_params = alloc.resolve_params({"size": 64}), strings.resolve_params()
    allocators = S.available_allocators()
    for v in SOURCES:                                    # load or compile every worker before timing
        run_trial(alloc, v, 1, params, 0.02, sample_every=0)
    for v in ("inline", "heap"):
        run_trial(strings, v, 1, string_params, 0.02, sample_every=0)

    raw: dict = {}
    checks: dict = {}
    d = args.duration
    for r in range(args.rounds):
        for v in SOURCES if r % 2 == 0 else SOURCES[::-1]:     # reversed every other round: drift cancels
            trial = run_trial(alloc, v, 1, params, d, sample_every=0)
            raw.setdefault(f"alloc_{v}_1", []).append(trial.ops_per_sec)
            raw.setdefault(f"allocs_per_op_{v}", []).append(trial.metrics["allocs_per_op"])
            checks[f"alloc_{v}"] = checks.get(f"alloc_{v}", True) and trial.check.passed
        for name in allocators:
            for t in SWAP_THREADS:
                result = _swap(alloc, name, t, d)
                raw.setdefault(f"malloc_{name}_{t}", []).append(result.ops_per_sec)
                checks[f"malloc_{name}_{t}"] = checks.get(f"malloc_{name}_{t}", True) and result.check.passed
        for v in ("inline", "heap"):
            trial = run_trial(strings, v, 1, string_params, d, sample_every=0)
            raw.setdefault(f"string_{v}_1", []).append(trial.ops_per_sec)
            raw.setdefault("inline_share", []).append(trial.metrics["inline_share"])
            checks[f"string_{v}"] = checks.get(f"string_{v}", True) and trial.check.passed
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    ratio = lambda a, b: summary(np.array(raw[a]) / np.array(raw[b]))
    figures = {f"{v}_over_malloc_64B_1thread": ratio(f"alloc_{v}_1", "alloc_malloc_1")
               for v in ("pool", "arena", "numpy", "stack")}
    figures.update({f"{v}_over_stack_64B_1thread": ratio(f"alloc_{v}_1", "alloc_stack_1") for v in ("pool", "arena")})
    figures.update({f"{v}_allocator_calls_cut_vs_malloc": summary(1 - np.array(raw[f"allocs_per_op_{v}"])
                                                                  / np.array(raw["allocs_per_op_malloc"]))
                    for v in ("pool", "arena")})
    figures.update({f"{name}_over_glibc_malloc_{t}threads": ratio(f"malloc_{name}_{t}", f"malloc_system_{t}")
                    for name in allocators if name != "system" for t in SWAP_THREADS})
    figures["inline_over_heap_string_1thread"] = ratio("string_inline_1", "string_heap_1")
    figures["inline_share"] = summary(raw["inline_share"])
    print_figures(figures)
    missing = S.missing_allocators()
    for name, how in missing.items():
        print(f"{name} not measured: not installed ({how})")
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        print(f"CHECK FAILED: {failed}", file=sys.stderr)
    save(args.out, "allocation", args, argv, figures=figures, raw=raw, checks=checks,
         allocators=allocators, missing_allocators=missing)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
