"""Bounded rings: Lamport's SPSC ring (plain and with cached indices), Vyukov's MPMC
ring, a mutex-protected ring, and an MPMC ring without its per-slot sequences (broken).

This module is longer than 350 lines because the five rings share one slot layout and
one item format, and reading their index protocols side by side is the lesson.

Every ring is an array of ``capacity`` slots (a power of two) of ``SLOT_WORDS`` int64
words: an item (``PAYLOAD``, ``STAMP``, ``SUM``, see *Items* below) and, for Vyukov's
ring, the slot's sequence number ``SEQ``. Indices are *monotonic* counters (never
wrapped); position ``p`` lives in slot ``p & (capacity - 1)``, so ``tail - head`` is
the number of items inside and a full ring is told apart from an empty one without a
spare slot. Each index has its own padded field (``IDX``: ``HEAD``, ``TAIL`` and the
two cached copies), so the producer's and the consumer's hot words never share a line.

The index protocols are split so that the caller writes or reads the slots itself
(zero-copy, as folly's ``ProducerConsumerQueue`` and rigtorp's ``SPSCQueue`` allow):
``*_reserve`` waits for room and says where, the caller writes, ``*_publish`` hands the
items over; ``*_available`` / ``*_consume`` mirror it on the consumer side. Waits poll
``harness.should_abandon`` and report -1 when the run stops, so no run can hang on a
full or empty ring.

Algorithm
    spsc         Lamport (1983): the producer alone writes ``TAIL``, the consumer alone
                 writes ``HEAD``; the producer waits while ``tail - head == capacity``,
                 the consumer while ``head == tail``. One acquire load of the other
                 side's index per operation (a cache-line transfer whenever it moved).
    spsc_cached  the same, but each side keeps a private copy of the other's index
                 (``HEAD_CACHE`` for the producer, ``TAIL_CACHE`` for the consumer) and
                 reloads it only when the copy says full (empty): most operations touch
                 no line the other side writes (rigtorp's SPSCQueue, folly's PCQ).
    mpmc         Vyukov's bounded MPMC queue: slot ``i`` starts with ``SEQ = i``. A
                 producer at position ``p`` may write the slot once ``SEQ == p``, claims
                 ``p`` by CAS on ``TAIL``, writes, and releases ``SEQ = p + 1``; a consumer
                 may read once ``SEQ == p + 1``, claims by CAS on ``HEAD``, reads, and
                 releases ``SEQ = p + capacity`` (free for the next lap's producer).
    no_seq       broken on purpose: Vyukov's index CASes without the sequences. A claim
                 of ``TAIL`` is not a written slot: a consumer that sees ``TAIL`` move may
                 read the slot before the producer has written it (the previous lap's
                 item: a duplicate), and a producer may overwrite a slot a consumer has
                 claimed but not yet read (a loss).
    mutex        the ring's indices under the futex mutex of ``primitives.locks``.

Items
    ``PAYLOAD = producer << 40 | sequence``, ``STAMP`` the enqueue time in ns (0 when not
    sampled), ``SUM = records.mix(producer, sequence, stamp)``: a consumer verifies an
    item on its own (a torn or stale slot fails the sum or repeats a sequence).

Invariants
    ``0 <= tail - head <= capacity``. spsc: only the producer writes ``TAIL`` and the
    producer's cache, only the consumer writes ``HEAD`` and its cache; a cached index is
    never ahead of the real one, so a cache can only under-report room (never over-).
    mpmc: a slot's ``SEQ`` is ``p`` (free for position p), ``p + 1`` (holds p's item) or
    ``p + capacity`` (read; free for position p + capacity), so each position is written
    once and read once.

Memory ordering
    spsc: ``publish`` is ``store_release(TAIL)``; pairs with ``load_acquire(TAIL)`` in
    ``available``: the slot writes happen before the consumer reads them. ``consume`` is
    ``store_release(HEAD)``; pairs with ``load_acquire(HEAD)`` in ``reserve``: the
    consumer's slot reads happen before the producer overwrites the slot. An index's own
    side reads it relaxed (it is the only writer), and the caches are private words.
    mpmc: ``store_release(SEQ)`` after writing (reading) a slot pairs with the other
    side's ``load_acquire(SEQ)`` before it reads (overwrites) it; the index CASes are
    relaxed: they only hand out positions, the sequences carry the data (Vyukov's).
    mutex: the lock's acquire/release orders everything; slot words are relaxed atomics
    so that the broken variant's races are defined behaviour (as ``records``).

Progress guarantee
    spsc, spsc_cached: wait-free per side, except waiting on full/empty. mpmc: lock-free
    claims, but *blocking*: a producer preempted between its claim and its release
    stalls the consumers of that slot (Vyukov says so). mutex: blocking.

References
    Lamport, "Specifying concurrent program modules", ACM TOPLAS 1983; Vyukov, "Bounded
    MPMC queue" (1024cores.net, 2010); E. Rigtorp, SPSCQueue (github.com/rigtorp/SPSCQueue);
    folly ``ProducerConsumerQueue.h``; Giacomoni et al., "FastForward", PPoPP 2008.
"""
import numpy as np

from .. import atomics as A
from ..harness import should_abandon
from ..jit import inline_kernel
from ..layout import aligned_zeros, field_offsets, padded_fields
from . import locks as L
from .records import mix

SLOT_WORDS = 4
PAYLOAD, STAMP, SUM, SEQ = range(SLOT_WORDS)
HEAD, TAIL, HEAD_CACHE, TAIL_CACHE = field_offsets(4)
PRODUCER_SHIFT = 40
SEQ_MASK = (1 << PRODUCER_SHIFT) - 1


def make_ring(capacity: int):
    """``(idx, slots)``: the padded indices and ``capacity`` slots with Vyukov's initial
    sequences (``SEQ = i``; the other rings ignore them)."""
    slots = aligned_zeros((capacity, SLOT_WORDS), np.int64)
    slots[:, SEQ] = np.arange(capacity)
    return padded_fields(4), slots


# ----------------------------------------------------------------------------- items

@inline_kernel
def write_item(slots, i, producer, seq, stamp):
    """Write an item into row ``i`` of ``slots`` (a ring's slots or a node array)."""
    # relaxed: published by the caller's release (index, SEQ or link).
    A.store_relaxed(slots, (i, PAYLOAD), (producer << PRODUCER_SHIFT) | seq)
    A.store_relaxed(slots, (i, STAMP), stamp)
    A.store_relaxed(slots, (i, SUM), mix(producer, seq, stamp))


@inline_kernel
def read_item(slots, i):
    """``(producer, seq, stamp, whole)`` of row ``i``; ``whole`` False: torn or stale."""
    # relaxed: ordered after the caller's acquire (index, SEQ or link).
    payload = A.load_relaxed(slots, (i, PAYLOAD))
    stamp = A.load_relaxed(slots, (i, STAMP))
    total = A.load_relaxed(slots, (i, SUM))
    producer = payload >> PRODUCER_SHIFT
    seq = payload & SEQ_MASK
    return producer, seq, stamp, total == mix(producer, seq, stamp) and payload >= 0


# ----------------------------------------------------------------------------- spsc

@inline_kernel
def spsc_reserve(idx, capacity, ctl):
    """Producer: ``(tail, room, spins)`` once the ring has room; room -1: run stopped."""
    tail = A.load_relaxed(idx, TAIL)         # relaxed: the producer is TAIL's only writer
    spins = 0
    while True:
        head = A.load_acquire(idx, HEAD)      # acquire: pairs with store_release in spsc_consume
        if tail - head < capacity:
            return tail, capacity - (tail - head), spins
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return tail, -1, spins


@inline_kernel
def spsc_cached_reserve(idx, capacity, ctl):
    """``spsc_reserve`` that reloads HEAD only when the producer's cached copy says full."""
    tail = A.load_relaxed(idx, TAIL)          # relaxed: the producer is TAIL's only writer
    head = A.load_relaxed(idx, HEAD_CACHE)    # relaxed: the producer's private copy
    spins = 0
    while tail - head >= capacity:
        head = A.load_acquire(idx, HEAD)      # acquire: pairs with store_release in spsc_consume
        A.store_relaxed(idx, HEAD_CACHE, head)
        if tail - head < capacity:
            break
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return tail, -1, spins
    return tail, capacity - (tail - head), spins


@inline_kernel
def spsc_publish(idx, new_tail):
    # release: the slot writes before it; pairs with load_acquire(TAIL) in spsc_available.
    A.store_release(idx, TAIL, new_tail)


@inline_kernel
def spsc_available(idx, ctl):
    """Consumer: ``(head, available, spins)`` once the ring holds items; -1: stopped."""
    head = A.load_relaxed(idx, HEAD)          # relaxed: the consumer is HEAD's only writer
    spins = 0
    while True:
        tail = A.load_acquire(idx, TAIL)      # acquire: pairs with store_release in spsc_publish
        if tail != head:
            return head, tail - head, spins
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return head, -1, spins


@inline_kernel
def spsc_cached_available(idx, ctl):
    """``spsc_available`` that reloads TAIL only when the consumer's cached copy says empty."""
    head = A.load_relaxed(idx, HEAD)          # relaxed: the consumer is HEAD's only writer
    tail = A.load_relaxed(idx, TAIL_CACHE)    # relaxed: the consumer's private copy
    spins = 0
    while tail == head:
        tail = A.load_acquire(idx, TAIL)      # acquire: pairs with store_release in spsc_publish
        A.store_relaxed(idx, TAIL_CACHE, tail)
        if tail != head:
            break
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return head, -1, spins
    return head, tail - head, spins


@inline_kernel
def spsc_consume(idx, new_head):
    # release: the slot reads before it; pairs with load_acquire(HEAD) in spsc_reserve.
    A.store_release(idx, HEAD, new_head)


# ----------------------------------------------------------------------------- mpmc (Vyukov)

@inline_kernel
def mpmc_claim_push(idx, slots, mask, ctl):
    """Producer: ``(position, cas_retries, full_spins)``; position -1: run stopped."""
    pos = A.load_relaxed(idx, TAIL)           # relaxed: a hint; SEQ and the CAS decide
    retries = 0
    spins = 0
    while True:
        # acquire: pairs with store_release in mpmc_release_pop (the last lap's read is done).
        seq = A.load_acquire(slots, (pos & mask, SEQ))
        if seq == pos:
            # relaxed: the CAS hands out the position; SEQ carries the data.
            seen = A.compare_exchange_relaxed(idx, TAIL, pos, pos + 1)
            if seen == pos:
                return pos, retries, spins
            retries += 1
            pos = seen
        elif seq < pos:                       # the slot still holds last lap's item: full
            spins += 1
            A.cpu_relax()
            if should_abandon(ctl, spins):
                return -1, retries, spins
            pos = A.load_relaxed(idx, TAIL)
        else:                                 # another producer took pos: catch up
            pos = A.load_relaxed(idx, TAIL)


@inline_kernel
def mpmc_release_push(slots, mask, pos):
    # release: the item before it; pairs with load_acquire(SEQ) in mpmc_claim_pop.
    A.store_release(slots, (pos & mask, SEQ), pos + 1)


@inline_kernel
def mpmc_claim_pop(idx, slots, mask, ctl):
    """Consumer: ``(position, cas_retries, empty_spins)``; position -1: run stopped."""
    pos = A.load_relaxed(idx, HEAD)           # relaxed: a hint; SEQ and the CAS decide
    retries = 0
    spins = 0
    while True:
        # acquire: pairs with store_release in mpmc_release_push (the item is written).
        seq = A.load_acquire(slots, (pos & mask, SEQ))
        if seq == pos + 1:
            # relaxed: the CAS hands out the position; SEQ carries the data.
            seen = A.compare_exchange_relaxed(idx, HEAD, pos, pos + 1)
            if seen == pos:
                return pos, retries, spins
            retries += 1
            pos = seen
        elif seq < pos + 1:                   # not written yet: empty
            spins += 1
            A.cpu_relax()
            if should_abandon(ctl, spins):
                return -1, retries, spins
            pos = A.load_relaxed(idx, HEAD)
        else:
            pos = A.load_relaxed(idx, HEAD)


@inline_kernel
def mpmc_release_pop(slots, mask, pos):
    # release: our read of the item before it; pairs with load_acquire(SEQ) in mpmc_claim_push.
    A.store_release(slots, (pos & mask, SEQ), pos + mask + 1)


# ----------------------------------------------------------------------------- mutex (the baseline)

@inline_kernel
def mutex_reserve(idx, futex, capacity, ctl):
    """Producer: ``(tail, room, full_spins, sleeps)`` with the lock *held* when room > 0;
    room -1: run stopped (lock not held). A full ring releases the lock while it waits."""
    spins = 0
    sleeps = 0
    while True:
        w = L.mutex_acquire(futex, 0, ctl)
        if w < 0:
            return 0, -1, spins, sleeps
        sleeps += w
        # relaxed: under the lock.
        tail = A.load_relaxed(idx, TAIL)
        room = capacity - (tail - A.load_relaxed(idx, HEAD))
        if room > 0:
            return tail, room, spins, sleeps
        L.mutex_release(futex, 0)
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return 0, -1, spins, sleeps


@inline_kernel
def mutex_available(idx, futex, ctl):
    """Consumer: ``(head, available, empty_spins, sleeps)``, lock held when available > 0."""
    spins = 0
    sleeps = 0
    while True:
        w = L.mutex_acquire(futex, 0, ctl)
        if w < 0:
            return 0, -1, spins, sleeps
        sleeps += w
        head = A.load_relaxed(idx, HEAD)          # relaxed: under the lock
        available = A.load_relaxed(idx, TAIL) - head
        if available > 0:
            return head, available, spins, sleeps
        L.mutex_release(futex, 0)
        spins += 1
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return 0, -1, spins, sleeps


@inline_kernel
def mutex_set_and_unlock(idx, futex, which, value):
    """Move an index (``TAIL`` after writing, ``HEAD`` after reading) and release the lock."""
    A.store_relaxed(idx, which, value)            # relaxed: the unlock below releases it
    L.mutex_release(futex, 0)


# ----------------------------------------------------------------------------- broken: no sequences

@inline_kernel
def no_seq_claim_push(idx, capacity, ctl):
    """Broken on purpose: claims a position when the *indices* say there is room."""
    retries = 0
    spins = 0
    pos = A.load_relaxed(idx, TAIL)
    while True:
        if pos - A.load_acquire(idx, HEAD) >= capacity:   # acquire: as spsc, but HEAD is claimed, not read
            spins += 1
            A.cpu_relax()
            if should_abandon(ctl, spins):
                return -1, retries, spins
            pos = A.load_relaxed(idx, TAIL)
            continue
        # acq_rel: orders the CAS with the slot write after it; no SEQ says the slot is free.
        seen = A.compare_exchange_acq_rel(idx, TAIL, pos, pos + 1)
        if seen == pos:
            return pos, retries, spins
        retries += 1
        pos = seen


@inline_kernel
def no_seq_claim_pop(idx, ctl):
    """Broken on purpose: claims a position when TAIL is past it, written or not."""
    retries = 0
    spins = 0
    pos = A.load_relaxed(idx, HEAD)
    while True:
        if pos == A.load_acquire(idx, TAIL):   # acquire: TAIL was claimed; the slot may be unwritten
            spins += 1
            A.cpu_relax()
            if should_abandon(ctl, spins):
                return -1, retries, spins
            pos = A.load_relaxed(idx, HEAD)
            continue
        # acq_rel: pairs with the producer's CAS on TAIL, which says nothing about the slot.
        seen = A.compare_exchange_acq_rel(idx, HEAD, pos, pos + 1)
        if seen == pos:
            return pos, retries, spins
        retries += 1
        pos = seen


# ----------------------------------------------------------------------------- the check's view

def ring_contents(idx: np.ndarray, slots: np.ndarray, vyukov: bool) -> list:
    """Items left inside a ring after a run, oldest first: ``[(producer, seq, whole)]``.
    Vyukov's ring counts only slots whose SEQ says written (a claimed, unwritten slot
    holds no item yet)."""
    mask = len(slots) - 1
    out = []
    for pos in range(int(idx[HEAD]), int(idx[TAIL])):
        row = slots[pos & mask]
        if vyukov and int(row[SEQ]) != pos + 1:
            continue
        payload, stamp = int(row[PAYLOAD]), int(row[STAMP])
        producer, seq = payload >> PRODUCER_SHIFT, payload & SEQ_MASK
        out.append((producer, seq, int(row[SUM]) == int(mix(producer, seq, stamp)) and payload >= 0))
    return out
