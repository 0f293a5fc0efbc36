"""Shared counters: six ways for T threads to count, one of them wrong on purpose.

Algorithm
    racy      load, add one, store: two separate accesses, so two threads can read the
              same value and one increment is lost (broken on purpose).
    atomic    one ``fetch_add`` on a shared word: the hardware makes the read-modify-
              write indivisible (x86 ``lock xadd``, ARMv8.1 ``ldadd``).
    cas       read, then compare-exchange old -> old+1, retrying when another thread got
              there first; counts the retries (the price of optimism under contention).
    spinlock  a test-and-test-and-set lock around a plain increment (primitives.locks).
    slots     per-thread counters, each written only by its owner; the total is the sum.
              With slots 8 bytes apart several share a cache line (false sharing); with
              slots a cache line apart each thread owns its line.

Invariants
    After all threads have joined: counter == sum of per-thread op counts for atomic,
    cas and spinlock; sum(slots) == that sum for the slot counters. ``racy`` loses
    (sum - counter) updates, which its check reports.

Memory ordering
    Counting needs atomicity, not ordering: every increment is relaxed. The reader of
    the total runs after ``Thread.join``, which orders all the workers' writes before
    it. The slot counters use a relaxed load and a relaxed store (not a fetch_add):
    each slot has a single writer, so no update can be lost, and the atomic accesses
    keep the compiler from folding the loop into one add (it would fold plain ``+=``).

Progress guarantee
    atomic and slots: wait-free. cas: lock-free (someone always succeeds). spinlock:
    blocking. racy: wait-free and wrong.

References
    Herlihy & Shavit, The Art of Multiprocessor Programming, ch. 5 and 7; McKenney, "Is
    Parallel Programming Hard", ch. 5 (Counting); crossbeam ``CachePadded``.
"""
from .. import atomics as A
from ..jit import kernel
from .locks import ttas_acquire, ttas_release


@kernel
def racy_increment(counter, i):
    # relaxed load then relaxed store: each is atomic, the pair is not. That gap is the lesson.
    A.store_relaxed(counter, i, A.load_relaxed(counter, i) + 1)


@kernel
def atomic_increment(counter, i):
    A.fetch_add_relaxed(counter, i, 1)  # relaxed: atomicity is all a counter needs


@kernel
def cas_increment(counter, i):
    """Returns the number of failed compare-exchanges."""
    retries = 0
    old = A.load_relaxed(counter, i)
    while True:
        # relaxed: a counter publishes nothing; on failure `seen` is the fresh value.
        seen = A.compare_exchange_relaxed(counter, i, old, old + 1)
        if seen == old:
            return retries
        old = seen
        retries += 1


@kernel
def slot_increment(slots, tid):
    """``slots`` from layout.slot_array: thread ``tid`` owns ``slots[tid, 0]``."""
    # single writer per slot: a relaxed load + store cannot lose an update here.
    A.store_relaxed(slots, (tid, 0), A.load_relaxed(slots, (tid, 0)) + 1)


@kernel
def locked_increment(lock, counter, i, ctl):
    """Plain increment under a TTAS lock; returns failed lock attempts, or -1 on stop."""
    attempts = ttas_acquire(lock, 0, ctl)
    if attempts < 0:
        return -1
    # relaxed accesses: the lock orders them; atomics only stop the compiler folding.
    A.store_relaxed(counter, i, A.load_relaxed(counter, i) + 1)
    ttas_release(lock, 0)
    return attempts
