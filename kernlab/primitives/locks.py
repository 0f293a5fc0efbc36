"""The lock zoo: TAS, TTAS with backoff, ticket, MCS and a blocking futex mutex.

Every lock has the same two-call shape, so one harness drives them all (as in
Concurrency Kit's ``regressions/ck_spinlock``): ``<lock>_acquire(..., ctl)`` returns a
non-negative wait count once the lock is held, or -1 when the run stopped first (the
lock is then *not* held); ``<lock>_release(...)`` hands it on.

Algorithm
    tas     one word, 0 free / 1 held; acquire = exchange 1 until the old value is 0.
            Every attempt is a write, so waiters keep stealing the line from the holder.
    ttas    test-and-test-and-set with bounded exponential backoff: spin *reading* the
            word (a read hits the local cache, so waiters do not steal the line from
            the holder) and try the compare-exchange 0 -> 1 only when it reads 0; after
            a failed try wait ``harness.backoff`` (doubling up to a cap), so a crowd of
            waiters does not stampede the line on every release (Anderson 1990).
    ticket  two counters: ``next`` (take a ticket: fetch_add) and ``serving``; a thread
            waits until ``serving`` equals its ticket; release increments ``serving``.
            FIFO: fair, and exactly as fast as its slowest (or descheduled) waiter.
            The two counters sit on different cache-line pairs, so arrivals taking a
            ticket do not invalidate the line the waiters spin on.
    mcs     a queue of per-thread nodes (one padded row each: LOCKED flag, NEXT link).
            Acquire swaps itself into ``tail``, links behind its predecessor and spins
            on its *own* node; release hands the lock to the successor by clearing the
            successor's LOCKED flag. One cache-line transfer per handoff, whatever the
            number of waiters. Node ids are ``tid + 1`` so that 0 means "none".
    mutex   Drepper's three-state futex mutex ("Futexes are tricky", mutex #3): the
            word is 0 free, 1 held, 2 held and maybe waiters. Acquire spins briefly
            (``MUTEX_SPIN_TRIES`` compare-exchanges with pause), then marks the word 2
            and sleeps in the kernel (``futex_wait``: a system call) until it reads
            something else; release exchanges 0 in and, only if the old value was 2,
            wakes one sleeper (``futex_wake``). Off Linux there is no futex: the
            "sleep" becomes ``sched_yield`` (the best portable equivalent without
            pthread handles in numba), which still gives the CPU to the holder.

Invariants
    At most one thread is between a successful acquire and its release (checked by the
    ``lock`` experiment: a plain read-modify-write inside the lock loses no update and
    an owner word never sees two owners). ticket: ``serving <= next``, and the holder's
    ticket is ``serving``. mcs: ``tail`` is 0 iff the queue is empty; only a node's
    predecessor clears its LOCKED flag. mutex: a sleeper only sleeps while the word is
    2, so a release that sees 1 knows nobody sleeps.

Memory ordering
    Every successful acquire is an *acquire* operation and every release a *release*
    operation on the same word (tas/ttas/mutex: the lock word; ticket: ``serving``;
    mcs: the successor's LOCKED flag, or ``tail`` when nobody waits), so the holder's
    critical-section writes happen-before the next holder's reads. Spinning reads that
    only decide when to try are relaxed. MCS needs two more edges: the acquirer's
    exchange on ``tail`` is acq_rel (release: its freshly reset node is visible to the
    successor that will link into it; acquire: pairs with the releasing CAS on ``tail``
    when the queue was empty), and the NEXT link is published with release and read
    with acquire, so the successor's LOCKED=1 is written before the predecessor can
    clear it. ``ticket_acquire``'s fetch_add is relaxed: a ticket number publishes
    nothing; the acquire load of ``serving`` synchronizes.

Progress guarantee
    All blocking. tas/ttas: deadlock-free, not starvation-free (one thread can lose every
    race; oversubscribed, a preempted holder makes every spinner burn its time slice).
    ticket/mcs: starvation-free (FIFO) while every thread runs; oversubscribed, the lock
    is handed to a waiter that may be descheduled, and everyone behind it waits for the
    scheduler (a convoy). mutex: starvation is possible (a spinning newcomer can barge),
    but waiters sleep instead of burning CPU, so a preempted holder gets its core back.
    Every wait loop polls the run's stop flag and deadline (``harness.should_abandon``);
    the mutex sleeps at most ``MUTEX_SLEEP_NS`` per futex call so it polls them too.
    Waiters only abandon while *waiting*: a ticket or MCS waiter that abandons leaves the
    queue stuck, which is harmless because the run is ending and state is per trial.

References
    Anderson, IEEE TPDS 1990 (TAS/TTAS, backoff); Herlihy & Shavit, The Art of
    Multiprocessor Programming, ch. 7 (TTASLock, BackoffLock); crossbeam-utils ``Backoff``;
    Mellor-Crummey & Scott, "Algorithms for scalable synchronization on shared-memory
    multiprocessors", ACM TOCS 1991 (ticket, MCS); Drepper, "Futexes Are Tricky" (2011), mutex #3; Concurrency Kit
    ``ck_spinlock_{fas,cas,ticket,mcs}``; Linux ``kernel/locking/mcs_spinlock.h``.
"""
from .. import atomics as A
from ..harness import backoff, should_abandon
from ..jit import inline_kernel, kernel
from ..layout import field_offsets

# Acquire and release are inline_kernels (see jit): on the uncontended path a lock is a
# handful of instructions, and a call that passes the lock's arrays field by field would
# cost more than the lock. The contended slow paths stay ordinary calls.

# ticket lock: two padded fields of one array (layout.padded_fields(2))
TICKET_NEXT, TICKET_SERVING = field_offsets(2)

# mcs: columns of the per-thread node rows (layout.padded_rows(threads, 2))
MCS_LOCKED = 0
MCS_NEXT = 1

MUTEX_SPIN_TRIES = 100        # compare-exchange attempts before sleeping (glibc's adaptive mutex uses ~100)
MUTEX_SLEEP_NS = 2_000_000    # one futex sleep at most: how late a sleeper notices the stop flag


# ----------------------------------------------------------------------------- ttas

@inline_kernel
def ttas_acquire(lock, i, ctl):
    """Acquire the lock word ``lock[i]``; returns the number of failed attempts, or -1
    if the run stopped first (the lock is then *not* held).
    The uncontended fast path is kept apart so that it inlines into the caller."""
    # relaxed: only a hint for when to try; the CAS synchronizes.
    # acquire: pairs with store_release in ttas_release.
    if A.load_relaxed(lock, i) == 0 and A.cas_acquire(lock, i, 0, 1):
        return 0
    return _ttas_acquire_contended(lock, i, ctl)


@kernel
def _ttas_acquire_contended(lock, i, ctl):
    attempts = 1
    spins = 0
    while True:
        backoff(spins)
        spins += 1
        if should_abandon(ctl, spins):
            return -1
        # relaxed: only a hint for when to try; the CAS below synchronizes.
        if A.load_relaxed(lock, i) == 0:
            # acquire: pairs with store_release in ttas_release.
            if A.cas_acquire(lock, i, 0, 1):
                return attempts
            attempts += 1


@inline_kernel
def ttas_release(lock, i):
    # release: pairs with cas_acquire in ttas_acquire.
    A.store_release(lock, i, 0)


# ----------------------------------------------------------------------------- tas

@inline_kernel
def tas_acquire(lock, i, ctl):
    """Exchange 1 in until the old value is 0; returns failed attempts or -1 on stop."""
    spins = 0
    # acquire: pairs with store_release in tas_release.
    while A.exchange_acquire(lock, i, 1) != 0:
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            return -1
    return spins


@inline_kernel
def tas_release(lock, i):
    # release: pairs with exchange_acquire in tas_acquire.
    A.store_release(lock, i, 0)


# ----------------------------------------------------------------------------- ticket

@inline_kernel
def ticket_acquire(lock, ctl):
    """Take a ticket, wait for it to be served; returns spins or -1 on stop."""
    # relaxed: the ticket number publishes no data; the acquire load below synchronizes.
    ticket = A.fetch_add_relaxed(lock, TICKET_NEXT, 1)
    spins = 0
    # acquire: pairs with store_release(TICKET_SERVING) in ticket_release.
    while A.load_acquire(lock, TICKET_SERVING) != ticket:
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            return -1
    return spins


@inline_kernel
def ticket_release(lock):
    # relaxed load: only the holder writes SERVING, so it reads its own last value.
    served = A.load_relaxed(lock, TICKET_SERVING)
    # release: pairs with load_acquire(TICKET_SERVING) in ticket_acquire.
    A.store_release(lock, TICKET_SERVING, served + 1)


# ----------------------------------------------------------------------------- mcs

@inline_kernel
def mcs_acquire(tail, nodes, tid, ctl):
    """Enqueue thread ``tid``'s node and wait for the handoff; returns spins or -1.
    ``tail``: an int64 array whose element 0 is the queue tail (0 = empty)."""
    me = tid + 1
    # relaxed: published by the release half of the exchange below.
    A.store_relaxed(nodes, (tid, MCS_NEXT), 0)
    A.store_relaxed(nodes, (tid, MCS_LOCKED), 1)
    # acq_rel: release publishes the reset node to the successor that links into it;
    # acquire pairs with cas_release in mcs_release when the queue was empty.
    pred = A.exchange_acq_rel(tail, 0, me)
    if pred == 0:
        return 0
    # release: pairs with load_acquire(MCS_NEXT) in mcs_release; our LOCKED=1 is
    # visible before the predecessor can clear it.
    A.store_release(nodes, (pred - 1, MCS_NEXT), me)
    spins = 0
    # acquire: pairs with store_release(MCS_LOCKED) in mcs_release (the handoff).
    while A.load_acquire(nodes, (tid, MCS_LOCKED)) != 0:
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            return -1
    return spins


@inline_kernel
def mcs_release(tail, nodes, tid, ctl):
    """Hand the lock to the successor; returns 0, or -1 if the run stopped while a
    successor had swapped itself in but not linked yet (the lock then stays held,
    which only matters to threads that are leaving too)."""
    me = tid + 1
    # acquire: pairs with store_release(MCS_NEXT) in mcs_acquire.
    succ = A.load_acquire(nodes, (tid, MCS_NEXT))
    if succ == 0:
        # release: pairs with exchange_acq_rel in mcs_acquire (next holder, empty queue).
        if A.cas_release(tail, 0, me, 0):
            return 0
        # A successor swapped the tail but has not linked yet: wait for the link.
        spins = 0
        while True:
            # acquire: pairs with store_release(MCS_NEXT) in mcs_acquire.
            succ = A.load_acquire(nodes, (tid, MCS_NEXT))
            if succ != 0:
                break
            A.cpu_relax()
            spins += 1
            if should_abandon(ctl, spins):
                return -1
    # release: pairs with load_acquire(MCS_LOCKED) in mcs_acquire: the handoff.
    A.store_release(nodes, (succ - 1, MCS_LOCKED), 0)
    return 0


# ----------------------------------------------------------------------------- mutex

@inline_kernel
def mutex_acquire(word, i, ctl):
    """Spin briefly, then sleep in the kernel. ``word``: an int32 array (the futex word
    is 32 bits). Returns the number of futex sleeps, or -1 if the run stopped while
    waiting (the lock is then not held)."""
    for _ in range(MUTEX_SPIN_TRIES):
        # relaxed: a hint; the compare-exchange synchronizes.
        if A.load_relaxed(word, i) == 0:
            # acquire: pairs with exchange_release in mutex_release.
            if A.cas_acquire(word, i, 0, 1):
                return 0
        A.cpu_relax()
    # Contended: from now on the word says "maybe waiters" (2), so the release wakes us.
    # acquire: if the old value was 0 we now hold the lock (pairs with mutex_release).
    c = A.exchange_acquire(word, i, 2)
    sleeps = 0
    while c != 0:
        # The kernel re-reads the word under its own lock: if a release slipped in
        # between, the word is no longer 2 and the call returns at once (no lost wake-up).
        A.futex_wait(word, i, 2, MUTEX_SLEEP_NS)
        sleeps += 1
        if should_abandon(ctl, 0):   # spins=0: read the clock too, every wake-up
            return -1                 # not holding: c != 0. A stale 2 costs one spare wake.
        # acquire: pairs with exchange_release in mutex_release.
        c = A.exchange_acquire(word, i, 2)
    return sleeps


@inline_kernel
def mutex_release(word, i):
    # release: pairs with cas_acquire / exchange_acquire in mutex_acquire.
    if A.exchange_release(word, i, 0) == 2:
        A.futex_wake(word, i, 1)   # someone may sleep: wake one (a system call)


# ----------------------------------------------------------------------------- work

@inline_kernel
def spin_work(iterations, opaque):
    """``iterations`` rounds of work that the compiler cannot remove: each round is a
    relaxed atomic load of ``opaque[0]`` (a read-only word, an L1 hit) added into a
    running sum. LLVM keeps atomic loads even when the sum is unused, so the loop is
    neither deleted nor folded (a compiler barrier alone does not stop LLVM from deleting
    an empty loop). ``work_ns_per_round`` measures what a round costs here."""
    x = 0
    for _ in range(iterations):
        x += A.load_relaxed(opaque, 0)   # relaxed: opaque is never written during a run
    return x


def work_ns_per_round(rounds: int = 20_000_000) -> float:
    """What one ``spin_work`` round costs on this machine, in ns (single thread)."""
    import time

    import numpy as np
    opaque = np.zeros(8, np.int64)
    spin_work(16, opaque)
    t0 = time.perf_counter()
    spin_work(rounds, opaque)
    return (time.perf_counter() - t0) * 1e9 / rounds
