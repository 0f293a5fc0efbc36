"""The Michael-Scott lock-free queue, its nodes reclaimed by epochs (``primitives.epoch``).

Nodes are the epoch domain's records (``records`` rows): an item in the ring's item
words (``rings.PAYLOAD``, ``STAMP``, ``SUM``) and the link ``NEXT`` (a reference:
record + 1, 0 is null). ``HEAD`` and ``TAIL`` (one padded field each) hold record ids.

Algorithm
    The queue always holds a dummy node: ``HEAD`` points at it and the first item is in
    ``HEAD.next``. enqueue: take a record from the domain's free list, write the item,
    then link it after the last node with a CAS on ``tail.next`` (null -> node), and
    swing ``TAIL`` to it (anyone who finds ``TAIL`` lagging swings it: helping).
    dequeue: read ``HEAD``, ``TAIL`` and ``head.next``; empty if next is null; if
    ``HEAD == TAIL`` the tail lags: help and retry; else read the item from ``next``
    and CAS ``HEAD`` to it: ``next`` becomes the dummy and the old dummy is unlinked,
    then *retired* to the epoch domain, which frees it (poisoned) two epochs later.

    Why epochs and not hazard pointers: a dequeuer reads ``head.next`` and the item of
    a node another dequeuer may unlink at any moment. Hazard pointers protect one node
    per pointer with a store-load fence per protected node and a re-check; epochs
    protect everything a thread reads between ``pin`` and ``unpin`` with one fence per
    operation and reuse the domain the fd table already uses. Their weakness (a stalled
    pinned thread holds back all reclamation) is bounded here: a full limbo list makes
    the retiring consumer wait (``epoch.retire``), which the metrics report.

    Epochs also rule out ABA: a record is reused only after every thread that could
    have read its id has unpinned, so a CAS can never mistake a reused record for the
    one it read.

Invariants
    ``HEAD`` and ``TAIL`` are never null; ``TAIL`` is the last node or one behind it;
    a record on the free list is poisoned and unreachable from ``HEAD``; a reader never
    sees poison (a poisoned item fails its checksum: the checker counts it as corrupt).

Memory ordering
    The link CAS on ``tail.next`` is ``cas_release``: the item and the null ``NEXT`` are
    written before the node is reachable; pairs with ``load_acquire`` of ``NEXT`` in
    both operations. ``HEAD``/``TAIL`` are read with acquire and moved with release CASes
    (pairs with those acquires: a node seen through ``TAIL`` has its link visible).
    ``pin``/``unpin`` and ``retire`` carry the epoch orderings (see ``primitives.epoch``).

Progress guarantee
    The links and the head are lock-free (a CAS fails only when another operation made
    progress; lagging tails are helped). Allocation is not: the domain's free list is
    under a spin lock, and a consumer whose limbo list is full waits for a grace period.

References
    M. Michael and M. Scott, "Simple, fast, and practical non-blocking and blocking
    concurrent queue algorithms", PODC 1996; Fraser 2004 (epochs); M. Michael, "Hazard
    pointers", IEEE TPDS 2004; crossbeam ``SegQueue``/``epoch`` (the same split).
"""
import numpy as np

from .. import atomics as A
from ..harness import should_abandon
from ..jit import inline_kernel
from ..layout import field_offsets, padded_fields
from . import epoch as E
from .records import POISON

NEXT = 3                                  # records' last word; 0..2 hold the item
Q_HEAD, Q_TAIL = field_offsets(2)


def make_queue(threads: int, capacity: int):
    """``(ends, meta, local, limbo, records, free)``: record 0 is the dummy; enough spare
    records for ``capacity`` items plus every thread's limbo list."""
    meta, local, limbo, records, free = E.make_domain(threads, capacity + 1 + threads * E.LIMBO_CAPACITY, 1)
    records[0, :] = 0
    return padded_fields(2), meta, local, limbo, records, free


@inline_kernel
def link(ends, records, r):
    """Append record ``r`` (item written, caller pinned): returns the CAS retries."""
    A.store_relaxed(records, (r, NEXT), 0)            # relaxed: published by the link CAS
    retries = 0
    while True:
        t = A.load_acquire(ends, Q_TAIL)              # acquire: pairs with the release CASes on TAIL
        nxt = A.load_acquire(records, (t, NEXT))      # acquire: pairs with the link cas_release
        if t != A.load_acquire(ends, Q_TAIL):
            retries += 1
            continue
        if nxt == 0:
            # release: the item before the link; pairs with load_acquire(NEXT).
            if A.cas_release(records, (t, NEXT), 0, r + 1):
                # release: pairs with load_acquire(TAIL); failure = someone helped.
                A.cas_release(ends, Q_TAIL, t, r)
                return retries
        else:
            A.cas_release(ends, Q_TAIL, t, nxt - 1)   # help the lagging tail (release, as above)
        retries += 1


@inline_kernel
def unlink(ends, records):
    """Dequeue (caller pinned): ``(record with the item, old dummy, retries)``; record -1:
    empty; -2: a link read poison (a reclamation bug; nothing to follow)."""
    retries = 0
    while True:
        h = A.load_acquire(ends, Q_HEAD)              # acquire: pairs with the release CAS on HEAD
        t = A.load_acquire(ends, Q_TAIL)              # acquire: pairs with the release CASes on TAIL
        nxt = A.load_acquire(records, (h, NEXT))      # acquire: pairs with the link cas_release
        if h != A.load_acquire(ends, Q_HEAD):
            retries += 1
            continue
        if nxt == 0:
            return -1, h, retries
        if nxt < 0 or nxt == POISON:
            return -2, h, retries
        if h == t:
            A.cas_release(ends, Q_TAIL, t, nxt - 1)   # the tail lags behind: help it on
            retries += 1
            continue
        # release: pairs with load_acquire(HEAD); acquire side is the NEXT load above.
        if A.cas_release(ends, Q_HEAD, h, nxt - 1):
            return nxt - 1, h, retries
        retries += 1


@inline_kernel
def enter(meta, local, tid):
    E.pin(meta, local, tid)


@inline_kernel
def leave(local, tid):
    E.unpin(local, tid)


@inline_kernel
def take_record(free, ctl):
    """A free record, waiting while the pool is empty: ``(record, spins)``; -1: stopped."""
    spins = 0
    while True:
        r = E.alloc_record(free, ctl)
        if r >= 0:
            return r, spins
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return -1, spins


def queue_contents(ends: np.ndarray, records: np.ndarray) -> list:
    """Record ids holding the items left inside, oldest first (stops at poison or a cycle)."""
    out, seen = [], set()
    r = int(records[int(ends[Q_HEAD]), NEXT])
    while 0 < r <= len(records) and r not in seen:
        seen.add(r)
        out.append(r - 1)
        r = int(records[r - 1, NEXT])
    return out
