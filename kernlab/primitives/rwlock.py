"""Reader-writer spin lock: many readers or one writer, writer-preferring.

Algorithm
    One int64 word holds everything: bit 0 ``WRITER`` (a writer holds the lock), bit 1
    ``WAITING`` (a writer has announced itself and waits for readers to drain), and
    the reader count in the bits above (each reader adds ``READER`` = 4).

    read_lock:  ``fetch_add(READER)``; if neither writer bit was set, the read lock is
                held (one atomic on the fast path). Otherwise take the increment back
                and spin *reading* the word until both writer bits clear, then retry.
    read_unlock: ``fetch_sub(READER)``.
    write_lock: if the word is 0 (no reader, no writer), CAS 0 -> ``WRITER`` and done
                (the uncontended fast path). Otherwise claim the writer intent by
                CAS-ing ``WAITING`` into a word with no writer bits (this orders
                writers among themselves), then wait until the reader count is zero
                and CAS ``WAITING`` -> ``WRITER``.
    write_unlock: clear ``WRITER`` with ``fetch_and`` (not a plain store: a reader
                may be in the middle of its take-back, and a store of 0 would erase
                its increment and let the count go negative).

    The uncontended paths (one atomic each) are inlined into the caller; the spin
    loops are separate ``_contended`` kernels, called only when the first try fails.

    **Writer preference, and why.** In a read-mostly table (1000 reads per write) the
    read sections of different threads overlap almost all the time; a reader-preferring
    lock lets a new reader in whenever the count is non-zero, so the reader count may
    never drop to zero and the rare writer starves. Here a waiting writer's
    ``WAITING`` bit turns new readers away, so the writer waits only for the readers
    already inside. The price: a steady stream of writers could starve readers, which
    read-mostly workloads do not produce.

Invariants
    WRITER set => reader count of *admitted* readers is zero (readers that saw a writer
    bit take their increment back without entering). At most one thread holds WRITER
    or WAITING. The word is never negative.

Memory ordering
    A reader's ``fetch_add_acquire`` pairs with the writer's ``fetch_and_release`` in
    ``write_unlock``: the reader sees the previous writer's updates. A reader's
    ``fetch_sub_release`` in ``read_unlock`` pairs with the writer's
    ``cas_acquire`` (WAITING -> WRITER, or 0 -> WRITER on the fast path): everything the reader read happens before the
    writer's writes (no reader can see a write of the section that follows it). The
    intent CAS is relaxed: it only orders writers against each other, and the acquire
    CAS that follows is the synchronizing step. Spinning loads are relaxed hints.

Progress guarantee
    Blocking. Readers can be delayed by a steady stream of writers (writer
    preference); a preempted holder stalls everyone waiting. Every spin loop polls
    the run's stop flag and deadline, so a run always ends.

References
    Mellor-Crummey & Scott, "Scalable reader-writer synchronization for shared-memory
    multiprocessors", PPoPP 1991 (writer-preference reader-writer locks); Linux
    ``qrwlock`` (kernel/locking/qrwlock.c) for the reader fast path of adding a bias
    and backing out; Herlihy & Shavit, ch. 8.3.
"""
from .. import atomics as A
from ..harness import should_abandon
from ..jit import inline_kernel, kernel

WRITER = 1
WAITING = 2
WRITER_BITS = WRITER | WAITING
READER = 4

# The uncontended paths are inline_kernels (as locks.ttas_acquire): a read lock is one
# atomic add, and a call passing the lock array field by field would cost more than the
# lock (see kernlab.jit). Every spin loop stays out of line, in a ``_contended`` kernel.


@inline_kernel
def read_lock(lock, i, ctl):
    """Take lock[i] for reading; returns spins waited, or -1 if the run stopped."""
    # acquire: pairs with fetch_and_release in write_unlock.
    if (A.fetch_add_acquire(lock, i, READER) & WRITER_BITS) == 0:
        return 0
    return _read_lock_contended(lock, i, ctl)


@kernel
def _read_lock_contended(lock, i, ctl):
    """The fast path's increment met a writer bit: take it back, wait, try again."""
    spins = 0
    while True:
        # relaxed: we did not enter; nothing to publish.
        A.fetch_sub_relaxed(lock, i, READER)
        # relaxed: a hint for when to retry; the fetch_add below synchronizes.
        while (A.load_relaxed(lock, i) & WRITER_BITS) != 0:
            A.cpu_relax()
            spins += 1
            if should_abandon(ctl, spins):
                return -1
        spins += 1
        # acquire: pairs with fetch_and_release in write_unlock.
        if (A.fetch_add_acquire(lock, i, READER) & WRITER_BITS) == 0:
            return spins


@inline_kernel
def read_unlock(lock, i):
    # release: pairs with cas_acquire (WAITING -> WRITER, or 0 -> WRITER) in write_lock.
    A.fetch_sub_release(lock, i, READER)


@inline_kernel
def write_lock(lock, i, ctl):
    """Take lock[i] for writing; returns spins waited, or -1 if the run stopped (then
    neither the lock nor the writer intent is held)."""
    # Uncontended: no reader, no writer; 0 -> WRITER in one CAS (qrwlock's fast path).
    # relaxed: a hint; acquire: pairs with fetch_sub_release in read_unlock and with
    # fetch_and_release in write_unlock (the last holders before the word read 0).
    if A.load_relaxed(lock, i) == 0 and A.cas_acquire(lock, i, 0, WRITER):
        return 0
    return _write_lock_contended(lock, i, ctl)


@kernel
def _write_lock_contended(lock, i, ctl):
    spins = 0
    # 1. the writer intent: one writer at a time sets WAITING.
    while True:
        # relaxed: a hint; the CAS decides.
        w = A.load_relaxed(lock, i)
        if (w & WRITER_BITS) == 0:
            # relaxed: orders writers among themselves only; step 2's acquire synchronizes.
            if A.cas_relaxed(lock, i, w, w | WAITING):
                break
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            return -1
    # 2. new readers now back off; wait for the admitted ones to leave.
    while True:
        # relaxed: test before the CAS, so a waiting writer does not steal the line
        # from draining readers on every spin; acquire: pairs with fetch_sub_release
        # in read_unlock (and, through the release sequence, the last write_unlock).
        if A.load_relaxed(lock, i) == WAITING and A.cas_acquire(lock, i, WAITING, WRITER):
            return spins
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            # relaxed: give the intent back; we wrote nothing under it.
            A.fetch_and_relaxed(lock, i, ~WAITING)
            return -1


@inline_kernel
def write_unlock(lock, i):
    # release: pairs with fetch_add_acquire in read_lock (and the next writer's cas_acquire).
    A.fetch_and_release(lock, i, ~WRITER)
