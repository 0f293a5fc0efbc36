"""Epoch-based reclamation (EBR): a global epoch, per-thread pinned epochs, limbo lists.

Algorithm
    A reader *pins* itself before touching shared objects: it copies the global epoch
    into its own padded slot, marked "pinned", and issues a SeqCst fence; it *unpins*
    when done. A writer that unlinks an object (e.g. closes a file descriptor: its slot
    is CAS-ed to empty) cannot free it at once, since pinned readers may hold it; it
    *retires* it into its own limbo list stamped with the global epoch ``e``.

    The global epoch advances from ``e`` to ``e + 1`` only when every pinned thread is
    pinned in ``e`` (threads that are not pinned do not matter). So once the global
    epoch reaches ``e + 2``, every thread that was pinned when the object was unlinked
    has unpinned since: objects retired in epoch ``e`` are freed when the global epoch
    is at least ``e + 2``. Freed records are poisoned and go back to a shared FIFO
    free list (primitives.freelist) under a spin lock.

    Limbo lists have a fixed capacity. A reader that stalls while pinned holds the
    epoch back (at most one advance past its pin), so garbage cannot be freed; when a
    writer's limbo list is full, the writer waits (trying to advance and collect while
    it spins) instead of growing memory. crossbeam-epoch grows its garbage bags
    without bound instead; here the bound is the point, and ``OUTSTANDING`` (garbage
    waiting) is reported over time.

    ``free_unpublished`` frees at once. It is correct only for a record no reader can
    hold (never published, or unlinked under a lock that excludes its readers); called
    on a record unlinked under epoch protection it is the premature free, broken on
    purpose (fd_table's ``epoch_early_free``), that the readers' poison checks catch.

Invariants
    A record retired in epoch ``e`` is freed only when the global epoch is >= e + 2,
    hence never while a thread that pinned before its unlink is still pinned.
    ``OUTSTANDING`` = total length of the limbo lists <= threads x ``LIMBO_CAPACITY``;
    ``PEAK`` is its high-water mark.

Memory ordering
    * pin: relaxed load of the global epoch, relaxed store of the pinned word, then
      ``fence_seq_cst``. Pairs with the ``fence_seq_cst`` in ``try_advance``: either the
      advancer's scan sees this thread pinned (in an old epoch, and does not advance),
      or this thread's later loads see every unlink that preceded the advance. This
      store-then-load ordering is what makes a pin cost a full fence (crossbeam does
      the same); QSBR (primitives.rcu) avoids it by announcing only between sections.
    * unpin: ``store_release``: the reader's loads of the object happen before the
      store; pairs with the relaxed scan + ``fence_acquire`` in ``try_advance``, which
      happens before any free that depends on the advance.
    * advance: ``cas_release`` on the global epoch after ``fence_acquire``; the
      collector reads the epoch after its own fence (crossbeam's ``try_advance``).
    * retire: ``fence_seq_cst`` then a relaxed load of the epoch: the unlink (the slot
      CAS before it) is ordered before the epoch is read, so the stamp is not older
      than the unlink.
    * free list: under a TTAS lock.

Progress guarantee
    Readers: wait-free (pin, a bounded lookup, unpin). Writers: the slot CAS is
    lock-free; retiring blocks only while a limbo list is full and a pinned thread
    holds the epoch back.

References
    Fraser, "Practical lock-freedom", PhD thesis, Cambridge 2004 (EBR); Hart et al.,
    "Performance of memory reclamation for lockless synchronization", JPDC 2007;
    crossbeam-epoch (``internal.rs``: ``pin``, ``try_advance``, sealed bags).
"""
import numpy as np

from .. import atomics as A
from ..harness import ADVANCE, GRACE, backoff, should_abandon, trace_clock, trace_event
from ..jit import inline_kernel, kernel
from ..layout import aligned_zeros, field_offsets, padded_fields, padded_slots
from .freelist import LOCK as FREE_LOCK
from .freelist import fifo_pop, fifo_push, make_fifo
from .locks import ttas_acquire, ttas_release
from .records import POISON, RECORD_FIELDS, poison_record

# meta: one padded field each, so readers' hot words never share a line with writers'.
GLOBAL, LOCK, OUTSTANDING, ADVANCES, WAIT_NS, FREED, PEAK = field_offsets(7)

# per-thread row (its own cache-line pair): the pinned word, then the owner's limbo ends
PINNED, LIMBO_HEAD, LIMBO_TAIL = 0, 1, 2
LIMBO_CAPACITY = 128          # retired records a thread may hold before it must wait


def make_domain(threads: int, n_records: int, records_in_use: int):
    """``(meta, local, limbo, records, free)``: records ``0..records_in_use-1`` are the
    caller's; the rest are poisoned and on the free list."""
    meta = padded_fields(7)
    local = padded_slots(threads)
    limbo = np.zeros((threads, LIMBO_CAPACITY, 2), np.int64)   # (record, epoch)
    records = aligned_zeros((n_records, RECORD_FIELDS), np.int64)
    records[records_in_use:] = POISON
    free = make_fifo(n_records, range(records_in_use, n_records))
    return meta, local, limbo, records, free


@inline_kernel   # on every lookup: a call passing the arrays would cost more than the pin
def pin(meta, local, tid):
    # relaxed: the SeqCst fence below orders this against the advancer's scan.
    e = A.load_relaxed(meta, GLOBAL)
    # relaxed: published by the fence; pairs with fence_seq_cst in try_advance.
    A.store_relaxed(local, (tid, PINNED), (e << 1) | 1)
    A.fence_seq_cst()


@inline_kernel
def unpin(local, tid):
    # release: pairs with fence_acquire in try_advance (our reads precede any free after it).
    A.store_release(local, (tid, PINNED), 0)


@kernel
def try_advance(meta, local, threads, ctl, tid):
    """Advance the global epoch if every pinned thread is in it; returns the epoch."""
    # relaxed: ordered by the fence below (crossbeam's try_advance).
    e = A.load_relaxed(meta, GLOBAL)
    A.fence_seq_cst()   # pairs with the fence_seq_cst in pin
    for t in range(threads):
        # relaxed: the fences order the scan.
        w = A.load_relaxed(local, (t, PINNED))
        if (w & 1) != 0 and (w >> 1) != e:
            return e
    A.fence_acquire()   # pairs with store_release in unpin: their reads happen before our frees
    # release: pairs with the collector's fence_seq_cst + load of GLOBAL in retire/collect.
    if A.cas_release(meta, GLOBAL, e, e + 1):
        A.fetch_add_relaxed(meta, ADVANCES, 1)   # relaxed: a statistic
        now = trace_clock(ctl)
        trace_event(ctl, tid, ADVANCE, now, now)   # trace mode: this thread advanced the epoch (an instant)
        return e + 1
    # acquire: the collector frees on the epoch returned here; pairs with the winning
    # advancer's cas_release, whose fence_acquire followed its scan of the pins (a relaxed
    # load would let our frees overtake that scan: crossbeam never frees on an unfenced epoch).
    return A.load_acquire(meta, GLOBAL)


@kernel
def collect(meta, local, limbo, records, free, tid, threads, ctl):
    """Free thread tid's limbo records whose epoch has expired; returns how many."""
    g = try_advance(meta, local, threads, ctl, tid)
    cap = limbo.shape[1]
    n = 0
    # limbo ends are owner-only: relaxed loads and stores (atomic only so a sampler may read).
    head = A.load_relaxed(local, (tid, LIMBO_HEAD))
    tail = A.load_relaxed(local, (tid, LIMBO_TAIL))
    while head != tail:
        e = head % cap
        if limbo[tid, e, 1] + 2 > g:
            break
        r = limbo[tid, e, 0]
        if ttas_acquire(free, FREE_LOCK, ctl) < 0:
            break
        poison_record(records, r)
        fifo_push(free, r)
        ttas_release(free, FREE_LOCK)
        head += 1
        n += 1
    A.store_relaxed(local, (tid, LIMBO_HEAD), head)
    if n:
        A.fetch_sub_relaxed(meta, OUTSTANDING, n)   # relaxed: a statistic
        A.fetch_add_relaxed(meta, FREED, n)
    return n


@kernel
def _note_peak(meta, value):
    """Raise PEAK (the high-water mark of OUTSTANDING) to ``value``. A sampler can miss
    the peak (it samples between operations, and a waiting writer is not between them)."""
    # relaxed: a statistic; the CAS loop only keeps concurrent writers from lowering it.
    peak = A.load_relaxed(meta, PEAK)
    while value > peak:
        seen = A.compare_exchange_relaxed(meta, PEAK, peak, value)
        if seen == peak:
            return
        peak = seen


@kernel
def retire(meta, local, limbo, records, free, tid, threads, r, ctl):
    """Retire record r (already unlinked). Waits while tid's limbo list is full.
    Returns spins waited, or -1 if the run stopped (r then leaks, harmlessly)."""
    cap = limbo.shape[1]
    spins = 0
    waited_from = np.int64(0)
    while A.load_relaxed(local, (tid, LIMBO_TAIL)) - A.load_relaxed(local, (tid, LIMBO_HEAD)) >= cap:
        collect(meta, local, limbo, records, free, tid, threads, ctl)
        if A.load_relaxed(local, (tid, LIMBO_TAIL)) - A.load_relaxed(local, (tid, LIMBO_HEAD)) < cap:
            break
        if waited_from == 0:
            waited_from = A.now_ns()
        backoff(spins)
        spins += 1
        if should_abandon(ctl, spins):
            A.fetch_add_relaxed(meta, WAIT_NS, A.now_ns() - waited_from)
            return -1
    if waited_from != 0:
        waited_to = A.now_ns()
        A.fetch_add_relaxed(meta, WAIT_NS, waited_to - waited_from)   # relaxed: a statistic
        trace_event(ctl, tid, GRACE, waited_from, waited_to)   # trace mode: waited for the epoch to move on
    A.fence_seq_cst()   # the unlink before the epoch read (see module docstring)
    e = A.load_relaxed(meta, GLOBAL)
    tail = A.load_relaxed(local, (tid, LIMBO_TAIL))
    limbo[tid, tail % cap, 0] = r
    limbo[tid, tail % cap, 1] = e
    A.store_relaxed(local, (tid, LIMBO_TAIL), tail + 1)
    _note_peak(meta, A.fetch_add_relaxed(meta, OUTSTANDING, 1) + 1)   # relaxed: a statistic for the sampler
    collect(meta, local, limbo, records, free, tid, threads, ctl)
    return spins


@kernel
def alloc_record(free, ctl):
    """A free record id, or -1 if the run stopped (or the pool is empty)."""
    if ttas_acquire(free, FREE_LOCK, ctl) < 0:
        return -1
    r = fifo_pop(free)
    ttas_release(free, FREE_LOCK)
    return r


@kernel
def free_unpublished(records, free, r, ctl):
    """Give back a record that no reader can hold: never published, or unlinked under a
    lock that excludes every reader of it (the locked baselines free at once)."""
    poison_record(records, r)
    if ttas_acquire(free, FREE_LOCK, ctl) >= 0:
        fifo_push(free, r)
        ttas_release(free, FREE_LOCK)
