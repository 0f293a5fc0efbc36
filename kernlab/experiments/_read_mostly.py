"""Pieces shared by the read-mostly experiments (process_table, fd_table, stats_snapshot):
parameter declarations, the cfg words and per-thread state of a key -> record table,
record seeding, the lookup check, the final-table check and its failure text, the
stalled reader and the garbage-over-time sampler. No ``EXPERIMENT`` here, so the
registry skips this module.

The table experiments (process_table, fd_table) keep their records in one pool of
self-checking records (primitives.records) and map each key to a record index through a
slot (a version's row in process_table, the descriptor slots in fd_table); what differs
between them is how a slot changes, not how a record is seeded, read or judged.
"""
import numpy as np

from .. import atomics as A
from ..declaration import Check, Param
from ..harness import stopping
from ..jit import inline_kernel, kernel
from ..layout import padded_rows, padded_scalar
from ..primitives import records as R
from ..primitives.shard_manager import MASK, MODULO
from ..workload import FIBONACCI, key_streams, probability_threshold, rng_states

STALL_EVERY = 1024                 # the stalled reader stalls once per this many of its lookups
SERIES_CAPACITY = 4096             # garbage samples kept (the latest ones)
SERIES_EVERY = 256                 # thread 0 looks at the clock once per this many ops
SERIES_INTERVAL_NS = 500_000       # at most one sample per half millisecond
SERIES_POINTS = 120                # points reported in the metrics (downsampled)

# cfg words of the table experiments; an experiment's own words start at C_OWN
C_UPDATE, C_SHARDS, C_MODE, C_STALL_NS, C_STALLED, C_THREADS, C_OWN = range(7)


# ----------------------------------------------------------------------------- parameters

def read_ratio_param(default=0.999):
    return Param("read_ratio", float, default, "share of operations that are lookups; the rest are updates",
                 low=0.5, high=0.99999)


def read_only_param():
    return Param("read_only", bool, False, "no updates at all (overrides read_ratio; for read-only benchmarks)")


def key_skew_param():
    return Param("key_skew", float, 0.0, "0 = uniform keys; s > 0 = Zipf exponent (0.99: a few hot keys)",
                 low=0.0, high=3.0)


SHARD_CHOICES = tuple(1 << i for i in range(11))          # 1 .. 1024


def shard_params():
    """``shards`` (default from ShardManager's high-contention profile) and ``shard_index``."""
    from ..primitives.shard_manager import ShardManager
    return (Param("shards", int, ShardManager.shards("high"), "shards of the `sharded` variant (default: "
                  "ShardManager, high-contention profile, for this machine's CPUs)", choices=SHARD_CHOICES,
                  power_of_two=True, used_by=("sharded",)),
            Param("shard_index", str, "mask", "how `sharded` picks a shard: hash & (shards-1), or hash % shards",
                  choices=("mask", "modulo"), used_by=("sharded",)))


def stall_param():
    return Param("stall_us", int, 0, "the last thread stalls this many microseconds inside a read section, "
                 f"once every {STALL_EVERY} of its lookups (0 = never)", low=0, high=100_000)


def update_threshold(params) -> int:
    return 0 if params.get("read_only") else probability_threshold(1.0 - params["read_ratio"])


# ----------------------------------------------------------------------------- setup

def table_cfg(threads: int, params: dict) -> np.ndarray:
    """The cfg words every table experiment reads (words C_OWN.. are the caller's)."""
    cfg = padded_scalar()
    cfg[C_UPDATE] = update_threshold(params)
    cfg[C_SHARDS] = params["shards"]
    cfg[C_MODE] = MASK if params["shard_index"] == "mask" else MODULO
    cfg[C_STALL_NS] = params["stall_us"] * 1000
    cfg[C_STALLED] = threads - 1
    cfg[C_THREADS] = threads
    return cfg


def table_workload(threads: int, size: int, params: dict) -> tuple:
    """``(keys, rng, errors, applied, series)``: key streams, per-thread generators,
    per-thread error rows, per-key committed update counts, the garbage series."""
    return (key_streams(threads, size, params["key_skew"]), rng_states(threads), padded_rows(threads, 4),
            np.zeros(size, np.int64), make_series())


def seed_records(records: np.ndarray, size: int) -> None:
    """Records ``0..size-1``: key k, no update yet, present with generation k + 1."""
    keys = np.arange(size, dtype=np.int64)
    records[:size, R.KEY] = keys
    records[:size, R.SEQ] = 0
    records[:size, R.GEN] = keys + 1
    records[:size, R.SUM] = _sums(keys)


@kernel(_nrt=True)  # allocates its result (setup only)
def _sums(keys):
    out = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        out[i] = R.mix(keys[i], 0, keys[i] + 1)
    return out


# ----------------------------------------------------------------------------- the measured path

@inline_kernel
def op_generation(tid, n):
    """A generation unique per (thread, op) for threads <= 1024."""
    return n * 1024 + tid + 1


@inline_kernel
def verify_lookup(records, errors, tid, key, r):
    """Verify record ``r`` found under ``key`` and tally a bad outcome in tid's error
    row. A slot value outside the pool is a torn slot (POISONED if it is POISON)."""
    # 0 <= r < len as one unsigned compare (a negative r wraps to a huge unsigned value)
    if np.uint64(r) < np.uint64(records.shape[0]) and R.record_is_whole(records, r, key):
        return                     # the common case: one branch, nothing to tally
    if r == R.POISON:
        outcome = R.POISONED
    elif r < 0 or r >= records.shape[0]:
        outcome = R.TORN
    else:
        outcome, _, _ = R.read_record(records, r, key)
    R.count_error(errors, tid, outcome)


@inline_kernel
def maybe_stall(ctl, stall_ns, stalled_tid, tid, n):
    """Stall ``stall_ns`` inside the caller's read section if tid is the stalled reader
    and this is its turn. The test is inlined; the stall itself is a call."""
    if stall_ns > 0 and tid == stalled_tid and (n & (STALL_EVERY - 1)) == STALL_EVERY - 1:
        _stall(ctl, stall_ns)


@kernel
def _stall(ctl, stall_ns):
    """Spin ``stall_ns``, polling the stop flag, so a run still ends on time."""
    until = A.now_ns() + stall_ns
    while A.now_ns() < until:
        if stopping(ctl):
            return
        A.cpu_relax()


def make_series() -> np.ndarray:
    """Row 0: [samples taken, time of the last sample, time of the first]; then (t_ns, value) rows."""
    return np.zeros((SERIES_CAPACITY + 1, 2), np.int64)


@inline_kernel
def sample_series(series, value_array, index, tid, n):
    """Thread 0 records ``value_array[index]`` at most every SERIES_INTERVAL_NS. The op
    filter is inlined; the clock read and the record are a call, once per SERIES_EVERY ops."""
    if tid == 0 and (n & (SERIES_EVERY - 1)) == 0:
        _record_sample(series, value_array, index)


@kernel
def _record_sample(series, value_array, index):
    t = A.now_ns()
    taken = series[0, 0]
    if taken > 0 and t - series[0, 1] < SERIES_INTERVAL_NS:
        return
    row = 1 + taken % SERIES_CAPACITY
    series[row, 0] = t
    series[row, 1] = A.load_relaxed(value_array, index)   # relaxed: a statistic; only thread 0 writes the series
    series[0, 1] = t
    series[0, 0] = taken + 1


# ----------------------------------------------------------------------------- after the run

@kernel
def verify_final_table(slots, records, applied, closed_codes):
    """The final table, key by key: ``(records not whole, wrong key, not the replay of
    the committed updates, first bad key)``. ``slots[k]`` is key k's record; its update
    count must equal ``applied[k]``. With ``closed_codes`` (fd_table) a negative slot is
    a closed key ``-1 - count``, and a key is open iff its count is even."""
    not_whole = 0
    wrong_key = 0
    not_replayed = 0
    first = -1
    for k in range(slots.shape[0]):
        s = slots[k]
        bad = True
        if closed_codes and s < 0:
            if -1 - s == applied[k] and (applied[k] & 1) == 1:
                bad = False
            else:
                not_replayed += 1
        elif s < 0 or s >= records.shape[0]:
            not_whole += 1
        else:
            key, count, gen, check = records[s, R.KEY], records[s, R.SEQ], records[s, R.GEN], records[s, R.SUM]
            if key == R.POISON or check != R.mix(key, count, gen):
                not_whole += 1
            elif key != k:
                wrong_key += 1
            elif count != applied[k] or (closed_codes and (applied[k] & 1) != 0):
                not_replayed += 1
            else:
                bad = False
        if bad and first < 0:
            first = k
    return not_whole, wrong_key, not_replayed, first


def lookup_problems(errors: np.ndarray) -> list:
    """One phrase per kind of bad lookup seen: ``"12 poison lookups"``."""
    return [f"{v:,} {k.replace('_seen', '')} lookups" for k, v in R.error_summary(errors).items() if v]


def final_table_problems(final, tables: str, key: str, not_replayed: str) -> list:
    """Phrases for ``verify_final_table``'s result; ``tables``, ``key`` and ``not_replayed``
    name things as the experiment does ("final table", "pid", "pids whose record ...")."""
    not_whole, wrong_key, lost, first = final
    out = []
    if not_whole or wrong_key:
        out.append(f"{not_whole + wrong_key:,} broken records in the {tables} (first {key} {first})")
    if lost:
        out.append(f"{lost:,} {not_replayed} (first {key} {first})")
    return out


def verdict(problems: list, passed: str) -> Check:
    return Check(False, "; ".join(problems)) if problems else Check(True, passed)


def table_metrics(counts: dict, errors, keys, series, ops: int, aux, own: dict, shards: int) -> dict:
    """Metrics of a table experiment: its ``counts``, aux per op, bad lookups, its ``own``
    figures, the garbage series and the shard load of the key streams."""
    return {**counts, "aux_per_op": float(aux.sum() / max(ops, 1)), **R.error_summary(errors), **own,
            **series_metrics(series, "garbage"), **shard_load(keys, shards)}


def series_metrics(series: np.ndarray, name: str) -> dict:
    """``{name}_series`` (values) and ``{name}_series_ms`` (times since the first
    sample kept), downsampled to at most SERIES_POINTS; ``{name}_max`` over all kept."""
    taken = int(series[0, 0])
    if taken == 0:
        return {f"{name}_series": [], f"{name}_series_ms": [], f"{name}_max": 0}
    rows = series[1:1 + min(taken, SERIES_CAPACITY)]
    if taken > SERIES_CAPACITY:          # a ring: put the oldest first
        start = taken % SERIES_CAPACITY
        rows = np.concatenate([rows[start:], rows[:start]])
    pick = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), SERIES_POINTS)).astype(int))
    t0 = rows[0, 0]
    return {f"{name}_series": [int(v) for v in rows[pick, 1]],
            f"{name}_series_ms": [round((int(t) - int(t0)) / 1e6, 3) for t in rows[pick, 0]],
            f"{name}_max": int(rows[:, 1].max())}


def shard_load(keys: np.ndarray, shards: int) -> dict:
    """How evenly the precomputed key streams spread over ``shards`` shards (the same
    Fibonacci hash as primitives.shard_manager): busiest shard / mean, and the CV."""
    h = (keys.astype(np.uint64) * FIBONACCI) >> np.uint64(33)   # = shard_manager.key_hash
    counts = np.bincount((h & np.uint64(shards - 1)).astype(np.int64).ravel(), minlength=shards)
    mean = counts.mean()
    return {"shard_busiest_over_mean": float(counts.max() / mean) if mean else 0.0,
            "shard_load_cv": float(counts.std() / mean) if mean else 0.0}
