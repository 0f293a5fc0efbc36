"""The `stats_snapshot` experiment: a block of K statistics read as one consistent snapshot.

A statistics block (``fields`` 64-bit words: counters of a process, a socket, the
memory manager) is updated by one writer thread (``writers`` "one": thread 0) or by
every thread ("all"), and read as a whole by everyone else. An op is a snapshot read,
or with probability 1 - read_ratio (writer threads only) an update.

Self-checking payload: an update reads the block's value v (field 0) and writes value
v + 1 into every field, field i holding ``seqlock.field_value(v + 1, i)``. A reader
checks its copy on its own: fields from two different updates do not fit together (a
*torn* snapshot), a poisoned block (a reclaimed RCU version) does not fit either, and
a thread's successive snapshots must never go back in time.

(This file is longer than 350 lines because its claim is judged beside the variants it
compares, as in process_table.)

    locked        a reader-writer lock (primitives.rwlock): readers share it, but each
                  read writes the lock word, so reader cores fight over its line
    seqlock       primitives.seqlock: readers copy, then re-check the sequence and retry
                  (aux counts the retries); readers never write shared memory
    rcu_snapshot  writers copy the block into a fresh version and publish it with a
                  CAS; readers copy the current version (primitives.rcu, QSBR)
    torn          a seqlock reader that never retries (broken on purpose: it tears)
    unsync        a plain copy, no synchronization: with ``read_only`` the cost floor of
                  a snapshot read (broken under updates)

Check: no snapshot was torn, poisoned or older than the same thread's previous one, and
the final block is whole and counts exactly the updates committed (a lost update, two
writers inside at once, leaves it short).

Memory ordering. Fields are relaxed atomics everywhere (racy copies of the broken
variants are then defined, and detectable). ``locked``: the rwlock's acquire/release
pairs order the copy (primitives.rwlock). ``seqlock``/``torn``: Boehm's recipe, argued in
primitives.seqlock: the reader's acquire load of the sequence pairs with the writer's
closing release store (a copy started at an even value sees that write's fields), and
its acquire fence before the second load pairs with the writer's release fence after
the odd value (a copy that saw *any* of the next write's fields also sees the sequence
changed). Readers are monotonic: their first sequence load cannot go back (coherence of
one word), so an accepted snapshot is never older than the previous one. ``rcu_snapshot``:
the publish CAS is release (the new version's fields before its index) and pairs with
``dereference``'s acquire; a version is reclaimed only after a grace period (QSBR).
"""
import numpy as np

from .. import atomics as A
from .. import harness as H
from ..claims import Claim, Verdict
from ..declaration import Experiment, Param, Variant
from ..harness import stopping
from ..jit import inline_kernel
from ..layout import aligned_zeros, padded_rows, padded_scalar
from ..primitives import rcu
from ..primitives import seqlock as SL
from ..primitives.records import POISON
from ..primitives.rwlock import read_lock, read_unlock, write_lock, write_unlock
from ..workload import chance, rng_states
from . import _judging as J
from ._read_mostly import read_only_param, read_ratio_param, update_threshold, verdict

MAX_FIELDS = 64
# cfg words
C_UPDATE, C_FIELDS, C_ALL_WRITE, C_THREADS = range(4)
# per-thread row (owner-written, read after join)
R_TORN, R_POISON, R_BACK, R_LAST, R_WRITES, R_FLAGGED = range(6)
# state tuple
SEQ, DATA, LOCK, META, QS, VERSIONS, RECORDS, VFREE, RFREE, QUEUE, REFS, BUFS, ROWS, RNG, CFG = range(15)


# ----------------------------------------------------------------------------- shared bodies

@inline_kernel
def _bump(rows, tid, col):
    """Owner-only counter in thread tid's padded row (relaxed: read after join)."""
    A.store_relaxed(rows, (tid, col), A.load_relaxed(rows, (tid, col)) + 1)


@inline_kernel
def _is_update(rng, cfg, tid):
    threshold = cfg[C_UPDATE]
    return threshold > 0 and (tid == 0 or cfg[C_ALL_WRITE] != 0) and chance(rng, tid, threshold)


@inline_kernel
def _verify(buf, k, rows, tid):
    """Judge a copied snapshot: torn / poisoned / older than this thread's last one."""
    v = buf[0]
    if not SL.snapshot_consistent(buf, k):
        _bump(rows, tid, R_POISON if v == POISON else R_TORN)
        return
    last = A.load_relaxed(rows, (tid, R_LAST))   # relaxed: owner-only word
    if v < last:
        _bump(rows, tid, R_BACK)
    elif v != last:
        A.store_relaxed(rows, (tid, R_LAST), v)   # only on change: no store per read in steady state


@inline_kernel
def _write_block(data, k):
    """The update (caller excludes other writers): value + 1 into every field."""
    # relaxed: writers are serialized by the caller (lock or odd sequence).
    SL.write_fields(data, k, A.load_relaxed(data, 0) + 1)


# ----------------------------------------------------------------------------- variants

@inline_kernel
def op_locked(ctl, state, tid, n):
    lock, data, bufs, rows, rng, cfg = state[LOCK], state[DATA], state[BUFS], state[ROWS], state[RNG], state[CFG]
    k = cfg[C_FIELDS]
    if _is_update(rng, cfg, tid):
        asked = H.trace_clock(ctl)
        spins = write_lock(lock, 0, ctl)
        if spins < 0:
            return -1
        got = H.trace_clock(ctl)
        _write_block(data, k)
        write_unlock(lock, 0)
        _trace_write(ctl, tid, asked, got, spins)
        _bump(rows, tid, R_WRITES)
        return spins
    spins = read_lock(lock, 0, ctl)
    if spins < 0:
        return -1
    buf = bufs[tid]
    SL.plain_read(data, k, buf)       # the read lock orders and protects the copy
    read_unlock(lock, 0)
    _verify(buf, k, rows, tid)
    return spins


@inline_kernel
def _seq_write(ctl, seq, data, rows, k, tid):
    asked = H.trace_clock(ctl)
    spins = SL.write_begin(seq, 0, ctl)
    if spins < 0:
        return -1
    got = H.trace_clock(ctl)
    _write_block(data, k)
    SL.write_end(seq, 0)
    _trace_write(ctl, tid, asked, got, spins)
    _bump(rows, tid, R_WRITES)
    return spins


@inline_kernel
def _trace_write(ctl, tid, asked, got, waited):
    """Trace mode: the writer's wait (if it had to), then its window (sequence odd, or lock held)."""
    if waited > 0:
        H.trace_event(ctl, tid, H.WAIT, asked, got)
    H.trace_event(ctl, tid, H.WRITE, got, H.trace_clock(ctl))


@inline_kernel
def op_seqlock(ctl, state, tid, n):
    seq, data, bufs, rows, rng, cfg = state[SEQ], state[DATA], state[BUFS], state[ROWS], state[RNG], state[CFG]
    k = cfg[C_FIELDS]
    if _is_update(rng, cfg, tid):
        return _seq_write(ctl, seq, data, rows, k, tid)
    buf = bufs[tid]
    began = H.trace_clock(ctl)
    retries = SL.read(seq, 0, data, k, buf, ctl)
    if retries < 0:
        return -1
    if retries > 0:     # trace mode: a read that had to retry, over its whole duration
        H.trace_event(ctl, tid, H.RETRY, began, H.trace_clock(ctl))
    _verify(buf, k, rows, tid)
    return retries


@inline_kernel
def op_torn(ctl, state, tid, n):
    seq, data, bufs, rows, rng, cfg = state[SEQ], state[DATA], state[BUFS], state[ROWS], state[RNG], state[CFG]
    k = cfg[C_FIELDS]
    if _is_update(rng, cfg, tid):
        return _seq_write(ctl, seq, data, rows, k, tid)
    buf = bufs[tid]
    if SL.torn_read(seq, 0, data, k, buf) != 0:
        _bump(rows, tid, R_FLAGGED)       # the sequence said "retry"; this reader did not listen
    _verify(buf, k, rows, tid)
    return 0


@inline_kernel
def op_unsync(ctl, state, tid, n):
    data, bufs, rows, rng, cfg = state[DATA], state[BUFS], state[ROWS], state[RNG], state[CFG]
    k = cfg[C_FIELDS]
    if _is_update(rng, cfg, tid):
        _write_block(data, k)             # no exclusion: two writers can both write v + 1
        _bump(rows, tid, R_WRITES)
        return 0
    buf = bufs[tid]
    SL.plain_read(data, k, buf)
    _verify(buf, k, rows, tid)
    return 0


@inline_kernel
def _rcu_write(ctl, meta, qs, versions, records, vfree, rfree, queue, refs, rows, k, threads, tid):
    """Copy-update-publish: value + 1 into a fresh version, CAS it in, retire the old one."""
    v_new, _ = rcu.alloc(meta, qs, versions, records, vfree, rfree, queue, refs, tid, threads, False, ctl)
    if v_new < 0:
        return -1
    retries = 0
    while True:
        cur = rcu.dereference(meta)
        # relaxed: ordered after dereference's acquire; a published version is immutable.
        value = A.load_relaxed(versions, (cur, 0)) + 1
        for j in range(k):
            # relaxed: the version is still private; publish's release orders these stores.
            A.store_relaxed(versions, (v_new, j), SL.field_value(value, j))
        if rcu.publish(meta, cur, v_new):
            break
        retries += 1                      # another writer published first: redo from its version
        if stopping(ctl):
            return -1
    _bump(rows, tid, R_WRITES)
    return retries if rcu.retire(meta, queue, cur, -1, ctl) else -1


@inline_kernel
def op_rcu_snapshot(ctl, state, tid, n):
    meta, qs, versions, bufs, rows, rng, cfg = \
        state[META], state[QS], state[VERSIONS], state[BUFS], state[ROWS], state[RNG], state[CFG]
    k = cfg[C_FIELDS]
    if (n & (rcu.QS_EVERY - 1)) == 0:
        rcu.quiescent(meta, qs, tid)      # between read sections: this thread holds no version
    if _is_update(rng, cfg, tid):
        return _rcu_write(ctl, meta, qs, versions, state[RECORDS], state[VFREE], state[RFREE], state[QUEUE],
                          state[REFS], rows, k, cfg[C_THREADS], tid)
    v = rcu.dereference(meta)
    buf = bufs[tid]
    for j in range(k):
        buf[j] = A.load_relaxed(versions, (v, j))   # relaxed: after dereference's acquire
    _verify(buf, k, rows, tid)
    return 0


# ----------------------------------------------------------------------------- setup / check

def setup(threads, params):
    k = params["fields"]
    seq = padded_scalar()
    data = aligned_zeros(MAX_FIELDS, np.int64)
    data[:k] = [SL.field_value(0, i) for i in range(k)]
    lock = padded_scalar()
    nv = 2 * threads + 2
    meta, qs, versions, records, vfree, rfree, queue, refs = rcu.make_domain(threads, nv, k)
    versions[0] = data[:k]
    cfg = padded_scalar()
    cfg[C_UPDATE] = update_threshold(params)
    cfg[C_FIELDS] = k
    cfg[C_ALL_WRITE] = params["writers"] == "all"
    cfg[C_THREADS] = threads
    return (seq, data, lock, meta, qs, versions, records, vfree, rfree, queue, refs,
            padded_rows(threads, MAX_FIELDS), padded_rows(threads, 8), rng_states(threads), cfg)


def final_block(state, params) -> np.ndarray:
    """The block as it stands after the run (the current RCU version if RCU was used)."""
    k = params["fields"]
    meta = state[META]
    if int(meta[rcu.GP_CTR]) > 0:          # some writer published a version: RCU ran
        return state[VERSIONS][int(meta[rcu.CURRENT]), :k]
    return state[DATA][:k]


def _counts(state):
    rows = state[ROWS]
    return {"torn_seen": int(rows[:, R_TORN].sum()), "poison_seen": int(rows[:, R_POISON].sum()),
            "backwards_seen": int(rows[:, R_BACK].sum()), "writes": int(rows[:, R_WRITES].sum()),
            "seq_flagged_reads": int(rows[:, R_FLAGGED].sum())}


def check(state, per_thread_ops, params):
    c = _counts(state)
    block = final_block(state, params)
    value = int(block[0])
    whole = all(int(block[i]) == int(SL.field_value(value, i)) for i in range(len(block)))
    problems = [f"{c[key]:,} {what}" for key, what in (
        ("torn_seen", "torn snapshots (fields from different updates)"),
        ("poison_seen", "snapshots of a reclaimed (poisoned) version"),
        ("backwards_seen", "snapshots older than the same thread's previous one")) if c[key]]
    if not whole:
        problems.append("the final block is torn")
    elif value != c["writes"]:
        problems.append(f"the final block counts {value:,} updates, {c['writes']:,} were committed")
    reads = int(per_thread_ops.sum()) - c["writes"]
    return verdict(problems, f"{reads:,} snapshots of {params['fields']} fields, none torn or going back; "
                             f"final block = {c['writes']:,} updates")


def metrics(state, per_thread_ops, per_thread_aux, params):
    c = _counts(state)
    reads = int(per_thread_ops.sum()) - c["writes"]
    meta = state[META]
    return {"reads": reads, **c,
            "retries_per_read": float(per_thread_aux.sum() / max(reads, 1)),
            "torn_per_million_reads": float(c["torn_seen"] * 1e6 / max(reads, 1)),
            "garbage_outstanding_final": int(meta[rcu.OUTSTANDING]),
            "writer_wait_ms": float(meta[rcu.WAIT_NS] / 1e6)}


EXPERIMENT = Experiment(
    name="stats_snapshot",
    title="Statistics read as one snapshot: lock, seqlock, RCU copy (and a seqlock that tears)",
    help="A block of `fields` counters is updated by one thread (or all) and read whole by the others. "
         "Every reader checks its snapshot: all fields must come from the same update.",
    params=(
        Param("fields", int, 8, "64-bit fields in the statistics block", low=2, high=MAX_FIELDS),
        read_ratio_param(0.99),
        Param("writers", str, "one", "who updates the block: thread 0 only, or every thread",
              choices=("one", "all")),
        read_only_param(),
    ),
    variants=(
        Variant("locked", op_locked, "a reader-writer lock around every read and update; aux counts waits"),
        Variant("seqlock", op_seqlock, "optimistic copy + sequence re-check; aux counts read retries"),
        Variant("rcu_snapshot", op_rcu_snapshot, "copy the block into a new version, CAS-publish it; "
                "readers copy the current version (QSBR)"),
        Variant("torn", op_torn, "a seqlock reader that never retries (broken on purpose)", broken=True),
        Variant("unsync", op_unsync, "plain copy, no synchronization: the cost floor with read_only "
                "(broken under updates)", broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="retries",
    default_variants=("locked", "seqlock", "rcu_snapshot"),
)


# ----------------------------------------------------------------------------- claims

SEQLOCK_SAYS = "Seqlock reads have zero overhead: a sequence-number check and nothing else."


def _seqlock_overhead(table) -> Verdict:
    trio = ("seqlock", "unsync", "locked")
    # the claim is about reads: no writer if measured (read_only), else the most read-heavy mix
    cond, rows = J.pick_group(J.experiment_rows(table, "stats_snapshot", trio),
                              ("fields", "read_only", "read_ratio", "writers"), trio[:2],
                              lambda c, rs: (J.read_share(c), len(J.thread_counts(rs, trio[:2]))))
    parts, ratios = [], []
    for t in J.thread_counts(rows, trio[:2]):
        s, u, lk = (J.median_of(rows, v, t) for v in trio)
        if s and u:
            ratios.append(s / u)
            parts.append(f"{J.plural(t)}: seqlock reads at {s / u:.2f}x the rate of an unsynchronized copy"
                         + (f" and {s / lk:.2f}x the locked rate" if lk else ""))
    if not ratios:
        return Verdict(SEQLOCK_SAYS, "needs seqlock and unsync rows at the same thread count (read_only)",
                       "not measured", "Run seqlock and unsync with read_only first.")
    shown = {"fields": cond["fields"]} if cond["read_only"] else {k: v for k, v in cond.items() if k != "read_only"}
    measured = "; ".join(parts) + f" ({J.conditions_text(shown)}{', no writer' if cond['read_only'] else ''})"
    if min(ratios) >= 0.9:
        return Verdict(SEQLOCK_SAYS, measured, "holds",
                       "With no writer a seqlock read costs about what an unsynchronized copy costs: two loads "
                       "of a sequence word that stays in every reader's cache, and no shared writes.")
    if min(ratios) >= 1 / 1.5:
        return Verdict(SEQLOCK_SAYS, measured, "partly holds",
                       "Close to a plain copy, but not free: the two sequence loads and the ordering they "
                       "impose are measurable against a copy this small. With a writer running, readers also "
                       "retry (see retries_per_read).")
    return Verdict(SEQLOCK_SAYS, measured, "does not hold",
                   "Seqlock reads cost clearly more than a plain copy here; check whether a writer was running "
                   "(retries) or the block is tiny.")


CLAIMS = (Claim("seqlock-zero-overhead-reads", "Tier 1, item 3", SEQLOCK_SAYS, "stats_snapshot",
                _seqlock_overhead),)
