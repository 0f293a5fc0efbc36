"""The `process_table` experiment: pid -> process-handle lookups, mostly reads, six ways.

Every variant reads the same layout: a slot array (pid -> record index) and a pool of
self-checking records (primitives.records: key, per-key update count, generation,
checksum). An op is a lookup, or with probability 1 - read_ratio an update of that pid
(1 in 4 updates removes it: a tombstone record; the others insert or replace it).

    mutex          one TTAS spin lock around everything; records updated in place
    rwlock         one reader-writer lock (primitives.rwlock)
    sharded        DashMap-style: shard = hash(pid) & (shards - 1) (or % shards), a
                   reader-writer lock per shard; shard count from ShardManager by default
    rcu            readers: one acquire load, no lock; writers copy the slot array,
                   publish it with a CAS and retire the old one until a grace period
                   has passed (primitives.rcu, QSBR)
    rcu_refcount   rcu, plus a shared per-version reference count incremented and
                   decremented around every lookup (what cloning an Arc on every load
                   costs)
    rcu_early_free rcu that reclaims without a grace period (broken on purpose)
    unsync         the same lookup and in-place update with no synchronization at all
                   (broken under updates; with read_only it is the cost floor)

Check: no lookup saw a torn, poisoned or wrong-key record; every record of the final
table is whole; and replaying each pid's committed updates in commit order gives that
record: each update derives its record from the one it replaces (update count + 1), so
the final record's count must equal the number of updates committed to that pid (a
lost update leaves it short).
"""
import numpy as np

from .. import atomics as A
from ..claims import Claim, Verdict
from ..declaration import Check, Experiment, Param, Variant
from ..jit import inline_kernel, kernel
from ..layout import padded_rows, padded_scalar, padded_slots
from ..primitives import rcu
from ..primitives.records import (POISON, POISONED, TORN, count_error, error_summary, mix,
                                  read_record, write_record)
from ..primitives.rwlock import read_lock, read_unlock, write_lock, write_unlock
from ..primitives.shard_manager import MASK, MODULO, shard_of
from ..primitives.locks import ttas_acquire, ttas_release
from ..harness import stopping
from ..workload import chance, key_streams, next_key, rng_next, rng_states
from ._read_mostly import (SHARD_CHOICES, key_skew_param, maybe_stall, read_only_param, read_ratio_param,
                           sample_series, series_metrics, shard_load, shard_params, stall_param, update_threshold)

VERSION_BUDGET_BYTES = 64 << 20                             # cap on the RCU version pool

# cfg words
C_UPDATE, C_SHARDS, C_MODE, C_STALL_NS, C_STALLED, C_THREADS = range(6)
# state tuple
META, QS, VERSIONS, RECORDS, VFREE, RFREE, QUEUE, REFS, LOCKS, KEYS, RNG, ERRORS, APPLIED, SERIES, CFG = range(15)


# ----------------------------------------------------------------------------- shared bodies

@inline_kernel
def _lookup(versions, records, v, key, errors, tid):
    """Find key in version v; tally any bad outcome. Caller provides the synchronization."""
    # relaxed: ordered after the caller's acquire (lock or RCU dereference).
    r = A.load_relaxed(versions, (v, key))
    if r == POISON:
        outcome = POISONED
    elif r < 0 or r >= records.shape[0]:
        outcome = TORN
    else:
        outcome, _, _ = read_record(records, r, key)
    count_error(errors, tid, outcome)
    return outcome


@inline_kernel
def _decide(keys, rng, threshold, tid, n):
    """(key, is_update, is_remove, gen) for thread tid's n-th op. Helpers take arrays,
    never the whole state tuple: passing a 15-array tuple costs ~100 ns a call."""
    key = next_key(keys, tid, n)
    update = False
    remove = False
    if threshold > 0 and chance(rng, tid, threshold):
        update = True
        remove = (rng_next(rng, tid) & np.uint64(3)) == 0
    return key, update, remove, n * 1024 + tid + 1      # gen: unique per (thread, op), threads <= 1024


@kernel
def _update_in_place(versions, records, applied, key, remove, gen):
    """The locked variants' update (caller holds the write lock): rewrite the pid's own record."""
    r = A.load_relaxed(versions, (0, key))   # relaxed: ordered by the caller's lock
    _, seq, _ = read_record(records, r, key)
    write_record(records, r, key, seq + 1, -gen if remove else gen)
    A.fetch_add_relaxed(applied, key, 1)     # relaxed: a count, read after join


@inline_kernel
def _locked_lookup(ctl, cfg, versions, records, errors, tid, n, key):
    maybe_stall(ctl, cfg[C_STALL_NS], cfg[C_STALLED], tid, n)
    _lookup(versions, records, 0, key, errors, tid)


# ----------------------------------------------------------------------------- baselines

@kernel
def op_mutex(ctl, state, tid, n):
    locks, versions, records, errors, applied, cfg = \
        state[LOCKS], state[VERSIONS], state[RECORDS], state[ERRORS], state[APPLIED], state[CFG]
    key, update, remove, gen = _decide(state[KEYS], state[RNG], cfg[C_UPDATE], tid, n)
    spins = ttas_acquire(locks, (0, 0), ctl)
    if spins < 0:
        return -1
    if update:
        _update_in_place(versions, records, applied, key, remove, gen)
    else:
        _locked_lookup(ctl, cfg, versions, records, errors, tid, n, key)
    ttas_release(locks, (0, 0))
    return spins


@inline_kernel
def _rw_op(ctl, locks, versions, records, errors, applied, keys, rng, cfg, tid, n, sharded):
    key, update, remove, gen = _decide(keys, rng, cfg[C_UPDATE], tid, n)
    row = 1 + shard_of(key, cfg[C_SHARDS], cfg[C_MODE]) if sharded else 0
    if update:
        spins = write_lock(locks, (row, 0), ctl)
        if spins < 0:
            return -1
        _update_in_place(versions, records, applied, key, remove, gen)
        write_unlock(locks, (row, 0))
        return spins
    spins = read_lock(locks, (row, 0), ctl)
    if spins < 0:
        return -1
    _locked_lookup(ctl, cfg, versions, records, errors, tid, n, key)
    read_unlock(locks, (row, 0))
    return spins


@kernel
def op_rwlock(ctl, state, tid, n):
    return _rw_op(ctl, state[LOCKS], state[VERSIONS], state[RECORDS], state[ERRORS], state[APPLIED],
                  state[KEYS], state[RNG], state[CFG], tid, n, False)


@kernel
def op_sharded(ctl, state, tid, n):
    return _rw_op(ctl, state[LOCKS], state[VERSIONS], state[RECORDS], state[ERRORS], state[APPLIED],
                  state[KEYS], state[RNG], state[CFG], tid, n, True)


@kernel
def op_unsync(ctl, state, tid, n):
    versions, records, cfg = state[VERSIONS], state[RECORDS], state[CFG]
    key, update, remove, gen = _decide(state[KEYS], state[RNG], cfg[C_UPDATE], tid, n)
    if update:
        _update_in_place(versions, records, state[APPLIED], key, remove, gen)
    else:
        _locked_lookup(ctl, cfg, versions, records, state[ERRORS], tid, n, key)
    return 0


# ----------------------------------------------------------------------------- RCU

@kernel
def _rcu_update(ctl, meta, qs, versions, records, vfree, rfree, queue, refs, applied, threads,
                tid, key, remove, gen, early):
    v_new, r_new = rcu.alloc(meta, qs, versions, records, vfree, rfree, queue, refs, tid, threads, True,
                             early, ctl)
    if v_new < 0:
        return -1
    width = versions.shape[1]
    retries = 0
    while True:
        cur = rcu.dereference(meta)
        # relaxed: ordered after dereference's acquire; the version is immutable.
        old_r = A.load_relaxed(versions, (cur, key))
        for j in range(width):      # copy: the old version is immutable, the new one still private
            versions[v_new, j] = versions[cur, j]
        seq = np.int64(0)
        if 0 <= old_r < records.shape[0]:
            _, seq, _ = read_record(records, old_r, key)
        write_record(records, r_new, key, seq + 1, -gen if remove else gen)
        versions[v_new, key] = r_new
        if rcu.publish(meta, cur, v_new):
            break
        retries += 1
        if stopping(ctl):
            return -1
    A.fetch_add_relaxed(applied, key, 1)   # relaxed: a count, read after join
    if not rcu.retire(meta, queue, cur, old_r if 0 <= old_r < records.shape[0] else -1, ctl):
        return -1
    return retries


@inline_kernel   # 15 arrays: as a call it passed ~100 words per lookup (see kernlab.jit)
def _rcu_op(ctl, meta, qs, versions, records, vfree, rfree, queue, refs, errors, applied, keys, rng, cfg,
            series, tid, n, refcount, early):
    if (n & (rcu.QS_EVERY - 1)) == 0:
        rcu.quiescent(meta, qs, tid)      # between read sections: we hold nothing from before
    sample_series(series, meta, rcu.OUTSTANDING, tid, n)
    key, update, remove, gen = _decide(keys, rng, cfg[C_UPDATE], tid, n)
    if update:
        return _rcu_update(ctl, meta, qs, versions, records, vfree, rfree, queue, refs, applied,
                           cfg[C_THREADS], tid, key, remove, gen, early)
    v = rcu.dereference(meta)
    if refcount:
        A.fetch_add_relaxed(refs, (v, 0), 1)      # relaxed: as Arc::clone
    maybe_stall(ctl, cfg[C_STALL_NS], cfg[C_STALLED], tid, n)
    _lookup(versions, records, v, key, errors, tid)
    if refcount:
        # release: as Arc::drop; pairs with load_acquire(refs) in rcu.reclaim.
        A.fetch_sub_release(refs, (v, 0), 1)
    return 0


@kernel
def op_rcu(ctl, state, tid, n):
    return _rcu_op(ctl, state[META], state[QS], state[VERSIONS], state[RECORDS], state[VFREE], state[RFREE],
                   state[QUEUE], state[REFS], state[ERRORS], state[APPLIED], state[KEYS], state[RNG],
                   state[CFG], state[SERIES], tid, n, False, False)


@kernel
def op_rcu_refcount(ctl, state, tid, n):
    return _rcu_op(ctl, state[META], state[QS], state[VERSIONS], state[RECORDS], state[VFREE], state[RFREE],
                   state[QUEUE], state[REFS], state[ERRORS], state[APPLIED], state[KEYS], state[RNG],
                   state[CFG], state[SERIES], tid, n, True, False)


@kernel
def op_rcu_early_free(ctl, state, tid, n):
    return _rcu_op(ctl, state[META], state[QS], state[VERSIONS], state[RECORDS], state[VFREE], state[RFREE],
                   state[QUEUE], state[REFS], state[ERRORS], state[APPLIED], state[KEYS], state[RNG],
                   state[CFG], state[SERIES], tid, n, False, True)


# ----------------------------------------------------------------------------- setup / check

def n_versions(threads: int, table_size: int) -> int:
    return int(max(3, min(2 * threads + 2, VERSION_BUDGET_BYTES // (8 * table_size))))


def setup(threads, params):
    size = params["table_size"]
    nv = n_versions(threads, size)
    n_records = size + nv + threads + 64
    meta, qs, versions, records, vfree, rfree, queue, refs = rcu.make_domain(threads, nv, size, n_records, size)
    versions[0] = np.arange(size)
    pids = np.arange(size, dtype=np.int64)
    records[:size, 0] = pids
    records[:size, 1] = 0
    records[:size, 2] = pids + 1                          # present, generation pid + 1
    records[:size, 3] = _sums(pids)
    locks = padded_slots(1 + max(SHARD_CHOICES))
    keys = key_streams(threads, size, params["key_skew"])
    cfg = padded_scalar()
    cfg[C_UPDATE] = update_threshold(params)
    cfg[C_SHARDS] = params["shards"]
    cfg[C_MODE] = MASK if params["shard_index"] == "mask" else MODULO
    cfg[C_STALL_NS] = params["stall_us"] * 1000
    cfg[C_STALLED] = threads - 1
    cfg[C_THREADS] = threads
    from ._read_mostly import make_series
    return (meta, qs, versions, records, vfree, rfree, queue, refs, locks, keys, rng_states(threads),
            padded_rows(threads, 4), np.zeros(size, np.int64), make_series(), cfg)


@kernel(_nrt=True)  # allocates its result (setup only)
def _sums(pids):
    out = np.empty(len(pids), np.int64)
    for i in range(len(pids)):
        out[i] = mix(pids[i], 0, pids[i] + 1)
    return out


@kernel
def verify_table(versions, records, cur, applied):
    """Final-state check: (records not whole, wrong key, update count != committed, first bad pid)."""
    not_whole = 0
    wrong_key = 0
    lost = 0
    first = -1
    for k in range(versions.shape[1]):
        r = versions[cur, k]
        bad = False
        if r < 0 or r >= records.shape[0]:
            not_whole += 1
            bad = True
        else:
            key, seq, gen, check = records[r, 0], records[r, 1], records[r, 2], records[r, 3]
            if key == POISON or check != mix(key, seq, gen):
                not_whole += 1
                bad = True
            elif key != k:
                wrong_key += 1
                bad = True
            elif seq != applied[k]:
                lost += 1
                bad = True
        if bad and first < 0:
            first = k
    return not_whole, wrong_key, lost, first


def check(state, per_thread_ops, params):
    seen = error_summary(state[ERRORS])
    cur = int(state[META][rcu.CURRENT])
    not_whole, wrong_key, lost, first = verify_table(state[VERSIONS], state[RECORDS], cur, state[APPLIED])
    updates = int(state[APPLIED].sum())
    problems = [f"{v:,} {k.replace('_seen', '')} lookups" for k, v in seen.items() if v]
    if not_whole or wrong_key:
        problems.append(f"{not_whole + wrong_key:,} broken records in the final table (first pid {first})")
    if lost:
        problems.append(f"{lost:,} pids whose record does not replay their committed updates (first pid {first})")
    bad_reclaim = int(state[META][rcu.BAD_RECLAIM])
    if bad_reclaim:
        problems.append(f"{bad_reclaim:,} versions reclaimed while a reader held a reference")
    if problems:
        return Check(False, "; ".join(problems))
    lookups = int(per_thread_ops.sum()) - updates
    return Check(True, f"{lookups:,} lookups saw whole records, no poison; final table = replay of "
                       f"{updates:,} updates")


def metrics(state, per_thread_ops, per_thread_aux, params):
    meta = state[META]
    ops = int(per_thread_ops.sum())
    updates = int(state[APPLIED].sum())
    out = {"updates": updates, "lookups": ops - updates, "aux_per_op": float(per_thread_aux.sum() / max(ops, 1)),
           **error_summary(state[ERRORS]),
           "garbage_outstanding_final": int(meta[rcu.OUTSTANDING]), "reclaimed": int(meta[rcu.RECLAIMED]),
           "writer_wait_ms": float(meta[rcu.WAIT_NS] / 1e6), "versions_pool": int(state[VERSIONS].shape[0])}
    out.update(series_metrics(state[SERIES], "garbage"))
    out.update(shard_load(state[KEYS], params["shards"]))
    return out


EXPERIMENT = Experiment(
    name="process_table",
    title="A read-mostly process table: mutex, reader-writer lock, sharded map, RCU",
    help="Threads look up pids in a shared table; a share 1 - read_ratio of operations update it. "
         "Every lookup verifies the record it found.",
    params=(
        read_ratio_param(),
        Param("table_size", int, 1024, "number of pids in the table", low=16, high=1_000_000, log_scale=True),
        key_skew_param(),
        *shard_params(),
        stall_param(),
        read_only_param(),
    ),
    variants=(
        Variant("mutex", op_mutex, "one spin lock around every operation"),
        Variant("rwlock", op_rwlock, "one writer-preferring reader-writer lock"),
        Variant("sharded", op_sharded, "DashMap-style: a reader-writer lock per shard"),
        Variant("rcu", op_rcu, "lock-free reads of an immutable version; copy + CAS publish; QSBR grace periods"),
        Variant("rcu_refcount", op_rcu_refcount, "rcu plus a shared reference count per read (Arc clone per load)"),
        Variant("rcu_early_free", op_rcu_early_free, "rcu reclaiming without a grace period (broken on purpose)",
                broken=True),
        Variant("unsync", op_unsync, "no synchronization at all: the cost floor (broken under updates)",
                broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="waits",
    default_variants=("rwlock", "sharded", "rcu", "rcu_refcount"),
)


# ----------------------------------------------------------------------------- claims

RCU_SAYS = "RCU reads are 10-50x faster than a DashMap-style sharded map (an atomic load vs a lock)."
THRESHOLD_SAYS = "RCU pays off when reads outnumber writes by more than 100:1; not for frequent mutations."


def _ratio_at(table, a, b, **where):
    from ..claims import median_rate
    ra, rb = median_rate(table, experiment="process_table", variant=a, **where), \
        median_rate(table, experiment="process_table", variant=b, **where)
    return (ra / rb) if ra and rb else None


def _conditions(rows):
    r = rows[0]
    return (f"read_ratio {r.get('param_read_ratio')}, table_size {r.get('param_table_size')}, "
            f"key_skew {r.get('param_key_skew')}")


def _rcu_vs_sharded(table) -> Verdict:
    rows = [r for r in table.rows if r["experiment"] == "process_table" and r["variant"] in ("rcu", "sharded")
            and not r.get("oversubscribed")]
    threads = sorted({r["threads"] for r in rows if r["variant"] == "rcu"}
                     & {r["threads"] for r in rows if r["variant"] == "sharded"})
    if not threads:
        return Verdict(RCU_SAYS, "needs rcu and sharded rows at the same thread count", "not measured",
                       "Run both variants first.")
    parts, ratios = [], []
    for t in threads:
        ratio = _ratio_at(table, "rcu", "sharded", threads=t)
        if ratio is not None:
            ratios.append(ratio)
            parts.append(f"{t} thread{'s' if t > 1 else ''}: rcu {ratio:.2f}x sharded")
    best = max(ratios)
    measured = "; ".join(parts) + f" ({_conditions(rows)})"
    if best >= 10:
        return Verdict(RCU_SAYS, measured, "holds", "RCU lookups beat the sharded map by an order of magnitude.")
    if best > 1.1:
        return Verdict(RCU_SAYS, measured, "partly holds",
                       "RCU is faster, but nowhere near 10x here: an uncontended reader-writer lock costs one "
                       "atomic read-modify-write, not a 10-50x slowdown. The gap grows with the number of "
                       "cores sharing a shard's lock line, and shrinks as updates (full copies) get frequent.")
    return Verdict(RCU_SAYS, measured, "does not hold",
                   "RCU lookups were not faster than the sharded map under these conditions.")


def _read_ratio_threshold(table) -> Verdict:
    rows = [r for r in table.rows if r["experiment"] == "process_table" and not r.get("oversubscribed")]
    ratios = sorted({r.get("param_read_ratio") for r in rows if r.get("param_read_ratio") is not None})
    if len(ratios) < 2:
        return Verdict(THRESHOLD_SAYS, "needs a read_ratio sweep with rcu and rwlock", "not measured",
                       "Sweep read_ratio first.")
    threads = max(r["threads"] for r in rows)
    wins = []
    for rr in ratios:
        ratio = _ratio_at(table, "rcu", "rwlock", threads=threads, param_read_ratio=rr)
        if ratio is not None:
            wins.append((rr, ratio))
    if len(wins) < 2:
        return Verdict(THRESHOLD_SAYS, "needs rcu and rwlock at two read ratios", "not measured", "")
    measured = "; ".join(f"read_ratio {rr}: rcu {x:.2f}x rwlock" for rr, x in wins) + \
        f" ({threads} threads, table_size {rows[0].get('param_table_size')})"
    pays = [rr for rr, x in wins if x > 1.0]
    if not pays:
        return Verdict(THRESHOLD_SAYS, measured, "does not hold", "RCU never beat the reader-writer lock here.")
    lowest = min(pays)
    loses_below = all(x <= 1.0 for rr, x in wins if rr < lowest)
    if lowest >= 0.99 and loses_below:
        return Verdict(THRESHOLD_SAYS, measured, "holds",
                       f"RCU only pays from read_ratio {lowest} (>= 100:1) upwards on this table.")
    return Verdict(THRESHOLD_SAYS, measured, "partly holds",
                   f"RCU already pays from read_ratio {lowest}; the break-even point depends on the table size "
                   "(each update copies the whole table) and on the thread count.")


CLAIMS = (
    Claim("rcu-vs-dashmap-reads", "Tier 1, item 1", RCU_SAYS, "process_table", _rcu_vs_sharded),
    Claim("rcu-read-write-threshold", "Tier 1, item 1 (when to use)", THRESHOLD_SAYS, "process_table",
          _read_ratio_threshold),
)
