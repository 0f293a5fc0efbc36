"""Read-copy-update with quiescent-state-based grace periods (QSBR) and fixed pools.

Algorithm
    Readers take no lock. They *dereference* the current version (one acquire load of
    an index) and read that version, which is immutable once published. A writer
    allocates a free version buffer (and, for tables of records, a free record),
    copies the current version into it, modifies the copy, and publishes it with a
    compare-exchange on the current index (the catalogue's RcuCell: on failure another
    writer published first, so it copies the new current version and tries again).
    The replaced version (and the record it replaced) is *retired*: it may still be
    in use by readers that dereferenced it before the publication.

    Grace periods (QSBR, as liburcu's urcu-qsbr and Linux's RCU-sched): a global
    counter ``GP_CTR``; each thread owns a padded slot ``qs[tid]``. A reader passes a
    *quiescent point* between read sections (before every ``QS_EVERY``-th operation by
    default; process_table's ``qs_period`` chooses another period, as liburcu users
    do; and whenever a writer waits for memory) by copying the counter into its
    slot. Retiring starts a grace period: ``stamp = ++GP_CTR``. An object retired with
    ``stamp`` is reclaimed once every thread's slot is >= stamp: each thread has since
    passed a quiescent point, so none can still hold the object. Reclaimed objects are
    poisoned (every word ``POISON``) and go to the tail of a FIFO free list
    (primitives.freelist), so poison stays visible for a while before reuse.

    Pools are fixed: ``n_versions`` buffers and ``n_records`` records. When every buffer
    is retired and no grace period has ended (a reader stalled inside its read
    section), writers *wait* (like ``synchronize_rcu``), announcing their own quiescent
    state as they spin. Memory stays bounded; update throughput pays instead. The
    garbage outstanding (retired, not yet reclaimed) is counted in ``OUTSTANDING``.

    ``free_at_once`` is the classic bug, broken on purpose: it poisons and frees the
    version (and record) a writer has just replaced, at once, with no grace period
    (``rcu_assign_pointer(p, new); kfree(old)`` without ``synchronize_rcu()``), while
    readers that dereferenced it before the publication may still be reading it. It
    lets tests prove that the readers' poison checks catch a premature free.

Invariants
    An object is reclaimed only after every thread's ``qs`` reached its stamp, i.e.
    after every read section that could have dereferenced it has ended
    (``free_at_once`` breaks exactly this). A version is in exactly one place:
    current, a free list, the retire queue, or a writer's hands.
    ``OUTSTANDING`` = length of the retire queue <= ``n_versions``.

Memory ordering
    * publish: ``compare_exchange_acq_rel`` on CURRENT. Release: the copy and the new
      record are written before the index is visible; pairs with ``load_acquire`` in
      ``dereference``. Acquire: a losing writer re-reads the winner's version.
    * grace period start: ``fetch_add_acq_rel(GP_CTR)``. Its release half orders the
      publication before the counter's new value; pairs with ``load_acquire(GP_CTR)``
      in ``quiescent``. So a reader that announces ``g >= stamp`` has synchronized with
      the publication: every later dereference returns the new version (or newer),
      never the retired one. This is why no full fence is needed at a quiescent point
      (urcu-qsbr issues two ``smp_mb``; the acquire/release pair proves enough here).
    * quiescent point: ``store_release(qs[tid])``. Release: the reader's loads from the
      read section before it happen before the store; pairs with ``load_acquire(qs)``
      in ``grace_period_elapsed``, which happens before the reclaimer's poison stores.
      Hence no reader ever reads an object concurrently with its poisoning.
    * pool bookkeeping (free lists, retire queue) is under a TTAS lock.

Progress guarantee
    Readers: wait-free (a bounded number of loads, no retry loop). Writers: the publish
    loop is lock-free (a failed CAS means another writer succeeded); allocation blocks
    while no grace period completes (a stalled reader stalls writers, not readers).

References
    McKenney & Slingwine, "Read-Copy Update", PDCS 1998; Desnoyers et al., "User-Level
    Implementations of Read-Copy Update", IEEE TPDS 2012 (QSBR flavour); liburcu
    ``urcu-qsbr.h``; Linux ``Documentation/RCU/whatisRCU.rst``; the ``arc-swap`` Rust
    crate (what an Arc-based RcuCell does on every load).
"""
import numpy as np

from .. import atomics as A
from ..harness import GRACE, backoff, should_abandon, trace_event
from ..jit import inline_kernel, kernel
from ..layout import aligned_zeros, field_offsets, padded_fields, padded_slots
from .freelist import fifo_len, fifo_pop, fifo_push, make_fifo
from .locks import ttas_acquire, ttas_release
from .records import POISON, RECORD_FIELDS, poison_record

# meta: one field per 128 bytes, so readers' hot words never share a line with writers'.
GP_CTR, CURRENT, LOCK, OUTSTANDING, WAIT_NS, RECLAIMED, BAD_RECLAIM, QHEAD = field_offsets(8)
QTAIL = QHEAD + 1            # the retire queue's ends share the (writer-only, locked) line

QS_EVERY = 16                # readers announce a quiescent point every 16 operations


def make_domain(threads: int, n_versions: int, width: int, n_records: int = 0, records_in_use: int = 0):
    """State of one RCU domain: ``(meta, qs, versions, records, vfree, rfree, queue, refs)``.

    Version 0 is current (its contents are the caller's to fill), and so are records
    ``0..records_in_use-1``; every other buffer and record is free and poisoned from
    the start, so a reader that reaches one it should not is caught even before reuse.
    """
    meta = padded_fields(8)
    qs = padded_slots(threads)
    versions = aligned_zeros((n_versions, width), np.int64)
    versions[1:] = POISON
    records = aligned_zeros((max(n_records, 1), RECORD_FIELDS), np.int64)
    records[records_in_use:] = POISON
    vfree = make_fifo(n_versions, range(1, n_versions))
    rfree = make_fifo(max(n_records, 1), range(records_in_use, n_records))
    queue = np.zeros((n_versions, 3), np.int64)   # (version, record or -1, stamp)
    refs = padded_slots(n_versions)              # per-version reference counts (rcu_refcount only)
    return meta, qs, versions, records, vfree, rfree, queue, refs


# ----------------------------------------------------------------------------- readers

@inline_kernel
def quiescent(meta, qs, tid):
    """Thread tid holds no reference obtained before this point."""
    # acquire: pairs with fetch_add_acq_rel(GP_CTR) in start_grace_period.
    g = A.load_acquire(meta, GP_CTR)
    # release: pairs with load_acquire(qs) in grace_period_elapsed.
    A.store_release(qs, (tid, 0), g)


@inline_kernel
def dereference(meta):
    """The current version's index (valid until this thread's next quiescent point)."""
    # acquire: pairs with compare_exchange_acq_rel / exchange_acq_rel(CURRENT) in publish.
    return A.load_acquire(meta, CURRENT)


# ----------------------------------------------------------------------------- grace periods

@kernel
def start_grace_period(meta):
    # acq_rel: release pairs with load_acquire(GP_CTR) in quiescent (see module docstring).
    return A.fetch_add_acq_rel(meta, GP_CTR, 1) + 1


@kernel
def grace_period_elapsed(qs, stamp, threads):
    """True once every thread has announced a quiescent point at or after ``stamp``."""
    for t in range(threads):
        # acquire: pairs with store_release in quiescent.
        if A.load_acquire(qs, (t, 0)) < stamp:
            return False
    return True


@kernel
def reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, threads):
    """Reclaim every retired object whose grace period has ended: poison it and
    append it to its free list. Caller holds LOCK."""
    n = 0
    cap = queue.shape[0]
    while meta[QHEAD] != meta[QTAIL]:
        e = meta[QHEAD] % cap
        v = queue[e, 0]
        r = queue[e, 1]
        if not grace_period_elapsed(qs, queue[e, 2], threads):
            break
        # acquire: pairs with fetch_sub_release in the rcu_refcount reader. After a grace
        # period no reader can be inside; a non-zero count means reclamation came too early.
        if A.load_acquire(refs, (v, 0)) != 0:
            A.fetch_add_relaxed(meta, BAD_RECLAIM, 1)  # relaxed: a statistic
        _poison_and_free(versions, records, vfree, rfree, v, r)
        meta[QHEAD] += 1
        A.fetch_sub_relaxed(meta, OUTSTANDING, 1)   # relaxed: a statistic for the sampler
        A.fetch_add_relaxed(meta, RECLAIMED, 1)
        n += 1
    return n


@kernel
def _poison_and_free(versions, records, vfree, rfree, v, r):
    """Poison version v (and record r, unless -1) and append them to the free lists.
    Caller holds LOCK."""
    for j in range(versions.shape[1]):
        # relaxed: no reader may legitimately see this (its grace period is over, unless
        # free_at_once broke the rule); one that does sees POISON.
        A.store_relaxed(versions, (v, j), POISON)
    fifo_push(vfree, v)
    if r >= 0:
        poison_record(records, r)
        fifo_push(rfree, r)


@kernel
def free_at_once(meta, versions, records, vfree, rfree, v, r, ctl):
    """Broken on purpose: poison and free the version v (and record r, or -1) that was
    just replaced, without waiting for a grace period. Readers that dereferenced it
    before the publication may still be reading it and will see POISON, or a reused
    buffer. False if the run stopped first."""
    if ttas_acquire(meta, LOCK, ctl) < 0:
        return False
    _poison_and_free(versions, records, vfree, rfree, v, r)
    A.fetch_add_relaxed(meta, RECLAIMED, 1)   # relaxed: a statistic
    ttas_release(meta, LOCK)
    return True


@kernel
def alloc(meta, qs, versions, records, vfree, rfree, queue, refs, tid, threads, need_record, ctl):
    """A free version (and record if ``need_record``): ``(v, r)``; ``(-1, -1)`` if the
    run stopped while waiting for a grace period. Call it before dereferencing: the
    caller must hold no reference, because it announces quiescent points while it waits."""
    spins = 0
    waited_from = np.int64(0)
    while True:
        quiescent(meta, qs, tid)
        if ttas_acquire(meta, LOCK, ctl) < 0:
            return -1, -1
        reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, threads)
        v = np.int64(-1)
        r = np.int64(-1)
        if fifo_len(vfree) > 0 and (not need_record or fifo_len(rfree) > 0):
            v = fifo_pop(vfree)
            if need_record:
                r = fifo_pop(rfree)
        ttas_release(meta, LOCK)
        if v >= 0:
            if waited_from != 0:
                waited_to = A.now_ns()
                A.fetch_add_relaxed(meta, WAIT_NS, waited_to - waited_from)  # relaxed: a statistic
                trace_event(ctl, tid, GRACE, waited_from, waited_to)   # trace mode: waited for a grace period
            return v, r
        if waited_from == 0:
            waited_from = A.now_ns()
        backoff(spins)
        spins += 1
        if should_abandon(ctl, spins):
            A.fetch_add_relaxed(meta, WAIT_NS, A.now_ns() - waited_from)
            return -1, -1


@kernel
def retire(meta, queue, v, r, ctl):
    """Queue version v (and record r, or -1) for reclamation after a grace period that
    starts now. False if the run stopped first (the objects then leak, harmlessly)."""
    stamp = start_grace_period(meta)
    if ttas_acquire(meta, LOCK, ctl) < 0:
        return False
    e = meta[QTAIL] % queue.shape[0]
    queue[e, 0] = v
    queue[e, 1] = r
    queue[e, 2] = stamp
    meta[QTAIL] += 1
    A.fetch_add_relaxed(meta, OUTSTANDING, 1)  # relaxed: a statistic for the sampler
    ttas_release(meta, LOCK)
    return True


@kernel
def publish(meta, expected, new):
    """The RcuCell's compare-exchange: True if ``new`` replaced ``expected``."""
    # acq_rel: release pairs with load_acquire in dereference; acquire lets a loser read the winner.
    return A.compare_exchange_acq_rel(meta, CURRENT, expected, new) == expected


def outstanding(meta: np.ndarray) -> int:
    return int(meta[OUTSTANDING])
