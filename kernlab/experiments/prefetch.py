"""The `prefetch` experiment: iterating process records across the memory hierarchy.

One op visits ``records_per_op`` records (default 1: ns per op is ns per record) of a
table of ``records`` records of ``record_bytes`` each (primitives.memwalk):

    sequential       address order: the hardware prefetcher streams it
    random           a seeded random order through an index array
    random_prefetch  the same order, software prefetch ``prefetch_distance`` records ahead
    linked_list      the same random cycle followed through each record's NEXT word
                     (dependent loads: no prefetch can look ahead; the latency staircase)

``records_per_op`` > 1 pays the measuring loop once for several records: at 1, a
sequential walk is held back by the loop around each record (its stores and bookkeeping
limit how far ahead the core's loads run), not by memory; at 64 it streams as a plain
loop does. The op's aux count is the records it visited.

Threads walk the same read-only table from evenly spaced starting positions. Check:
every walker's sum equals the replayed sum of the VALUE words at the walk positions it
visited (``memwalk.expected_sum``).

The working set is ``records x record_bytes``; sweeping ``records`` on a log axis from
a few KiB past the last-level cache draws the L1/L2/L3/DRAM staircase. Defaults stay
small (tests, notebooks); a DRAM-sized set is asked for explicitly. The read-only table
of the last parameters is kept between trials (building a GiB table takes seconds).
"""
import os
import time

import numpy as np

from ..declaration import Check, Experiment, Param, ParamError, Variant
from ..jit import kernel
from ..layout import aligned_zeros, padded_rows
from ..primitives import memwalk as M
from ._prefetch_claims import CLAIMS  # noqa: F401  (the registry reads CLAIMS here)

RECORDS, FLAT, ORDER, WALKERS, CFG = range(5)
KIND = 2                             # walker row column: which walk ran (set at the first op)
SEQUENTIAL, RANDOM, PREFETCHED, LINKED = 1, 2, 3, 4
C_DISTANCE, C_STEPS = 0, 1


def max_working_set() -> int:
    """Largest table allowed: a quarter of physical memory, at most 4 GiB."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 << 30
    return int(min(physical // 4, 4 << 30))


@kernel
def op_sequential(ctl, state, tid, n):
    walkers = state[WALKERS]
    if n == 0:
        walkers[tid, KIND] = SEQUENTIAL
    steps = state[CFG][C_STEPS]
    for _ in range(steps):
        M.step_sequential(state[RECORDS], walkers, tid)
    return steps


@kernel
def op_random(ctl, state, tid, n):
    walkers = state[WALKERS]
    if n == 0:
        walkers[tid, KIND] = RANDOM
    steps = state[CFG][C_STEPS]
    for _ in range(steps):
        M.step_random(state[RECORDS], state[ORDER], walkers, tid)
    return steps


@kernel
def op_random_prefetch(ctl, state, tid, n):
    walkers = state[WALKERS]
    if n == 0:
        walkers[tid, KIND] = PREFETCHED
    cfg = state[CFG]
    for _ in range(cfg[C_STEPS]):
        M.step_prefetched(state[RECORDS], state[FLAT], state[ORDER], walkers, tid, cfg[C_DISTANCE])
    return cfg[C_STEPS]


@kernel
def op_linked_list(ctl, state, tid, n):
    walkers = state[WALKERS]
    if n == 0:
        walkers[tid, KIND] = LINKED
        # setup placed the walker at a walk *position*; a list walker holds a record
        walkers[tid, M.CURSOR] = state[ORDER][walkers[tid, M.CURSOR]]
    steps = state[CFG][C_STEPS]
    for _ in range(steps):
        M.step_linked(state[RECORDS], walkers, tid)
    return steps


_table_cache: dict = {}


def _table(params):
    key = (params["records"], params["record_bytes"], params["seed"])
    if key not in _table_cache:
        _table_cache.clear()                     # one table at a time: they can be GiBs
        records, order = M.build_table(*key)
        aligned = aligned_zeros(records.shape, np.int64)
        aligned[:] = records
        _table_cache[key] = (aligned, order)
    return _table_cache[key]


def working_set(params) -> int:
    return params["records"] * params["record_bytes"]


def ns_per_record(row) -> float:
    """ns per record of a results row (each op visited ``records_per_op`` records)."""
    return 1e9 / (row["ops_per_sec"] * row.get("param_records_per_op", 1))


def numpy_sum_bytes_per_s(params, duration: float = 0.3) -> float:
    """Bytes per second of numpy summing the table these params build (every word, one
    pass per call): what streaming the same bytes costs without any per-record loop.
    ``params`` may leave parameters out (their defaults)."""
    table = _table(EXPERIMENT.resolve_params(params))[0]
    passes, begin = 0, time.perf_counter()
    while True:
        table.sum()
        passes += 1
        elapsed = time.perf_counter() - begin
        if elapsed >= duration:
            return passes * table.nbytes / elapsed


def setup(threads, params):
    limit = max_working_set()
    if working_set(params) > limit:
        raise ParamError(f"parameter 'records': records x record_bytes must be at most {limit:,} bytes here, "
                         f"got {working_set(params):,}")
    records, order = _table(params)
    n = len(records)
    walkers = padded_rows(threads, 4)
    starts = np.arange(threads, dtype=np.int64) * n // threads
    walkers[:, M.CURSOR] = starts
    cfg = np.array([min(params["prefetch_distance"], n - 1), params["records_per_op"]], np.int64)
    return records, records.reshape(-1), order, walkers, cfg, starts


def check(state, per_thread_ops, params):
    records, order, walkers, starts = state[RECORDS], state[ORDER], state[WALKERS], state[5]
    values = records[:, M.VALUE]
    wrong = []
    for tid, steps in enumerate(np.asarray(per_thread_ops, np.int64) * params["records_per_op"]):
        if steps == 0:
            continue
        kind = int(walkers[tid, KIND])
        walk = values if kind == SEQUENTIAL else values[order]
        start = int(starts[tid])
        want = M.expected_sum(walk, start, steps)
        got = int(walkers[tid, M.SUM])
        if got != want:
            wrong.append(f"thread {tid}: sum {got:,} after {steps:,} records, replay says {want:,}")
    if wrong:
        return Check(False, "; ".join(wrong[:3]))
    return Check(True, f"{int(np.sum(per_thread_ops)) * params['records_per_op']:,} records visited; "
                       "every walker's sum equals the replay")


def metrics(state, per_thread_ops, per_thread_aux, params):
    return {"working_set_bytes": working_set(params), "records_per_op": params["records_per_op"]}


EXPERIMENT = Experiment(
    name="prefetch",
    title="Prefetching and the memory hierarchy: process records in order, at random, linked",
    help="Each op visits one process record. Grow the table past each cache level and compare "
         "address order, random order, random order with software prefetch, and a linked list.",
    params=(
        Param("records", int, 1 << 14, "process records in the table (working set = records x record_bytes)",
              low=16, high=1 << 26, log_scale=True),
        Param("record_bytes", int, 64, "bytes per record", choices=(64, 128, 256, 512, 1024)),
        Param("prefetch_distance", int, 16, "records ahead that random_prefetch prefetches (0: none)",
              low=0, high=64, used_by=("random_prefetch",)),
        Param("seed", int, 1, "seed of the random order", low=0, high=2**31 - 1),
        Param("records_per_op", int, 1, "records one op visits (the measuring loop is paid once per op)",
              low=1, high=4096, log_scale=True),
    ),
    variants=(
        Variant("sequential", op_sequential, "records in address order (the hardware prefetcher's case)"),
        Variant("random", op_random, "seeded random order through an index array"),
        Variant("random_prefetch", op_random_prefetch, "random order, software prefetch prefetch_distance ahead"),
        Variant("linked_list", op_linked_list, "follow each record's next link: dependent loads"),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="records",
)
