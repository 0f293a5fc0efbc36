"""A shared value cell three ways: the catalogue's AdaptiveLock (one atomic word when
the value fits in 8 bytes, a mutex otherwise), always a mutex, and a seqlock.

Algorithm
    A cell holds ``words`` int64 words (``value_bytes / 8``). A write stores a whole
    value; a read copies a whole value out. Values are self-checking: word ``i`` of value
    ``v`` is ``v + i * STRIDE``, so a reader can tell on its own whether it saw parts of
    two different writes (a torn read).
    adaptive  ``words == 1``: a single atomic load / store (the catalogue's
              ``Atomic(AtomicU64)`` arm); larger: the mutex path (its ``Mutex(T)`` arm).
              The choice is made per operation from the size, like matching on the enum.
    mutex     lock (primitives.locks futex mutex), copy, unlock, for reads and writes.
    seqlock   writers serialize on a TTAS lock and make the sequence odd while writing;
              readers copy optimistically and retry if the sequence was odd or changed
              (Lameter; Linux ``seqlock_t``). Readers never write shared memory.

Invariants
    Every read returns a value that some write stored whole (checked: torn reads = 0).
    seqlock: the sequence is odd exactly while a writer is between its two increments.

Memory ordering
    adaptive word: store_release / load_acquire (pairs with each other), so a reader that
    sees a value also sees what the writer did before it (the catalogue reads with
    Acquire). mutex: the lock's acquire/release orders the copies (see locks).
    seqlock (Boehm, "Can seqlocks get along with programming language memory models?",
    MSPC 2012): writer stores seq+1 (relaxed), then ``fence_release`` so the data stores
    cannot move above it, stores the data relaxed, then stores seq+2 with release.
    Reader loads seq with acquire, copies the data relaxed, ``fence_acquire`` so the
    copies cannot move below the re-check, then reloads seq relaxed; equal and even
    means no writer overlapped the copy.

Progress guarantee
    adaptive word: wait-free. mutex: blocking. seqlock: writers blocking; readers
    lock-free only in the sense that they retry while writers keep writing (a steady
    writer can starve them). Lock waits poll the run's stop flag; a seqlock reader
    that keeps failing polls it too.

References
    The catalogue, Tier 2 item 7 (AdaptiveLock); Lameter, "Effective synchronization on
    Linux/NUMA systems" (2005); Boehm, MSPC 2012; crossbeam ``AtomicCell`` (which makes
    the same size-based choice, with a seqlock for the large case).
"""
from .. import atomics as A
from ..jit import inline_kernel
from .locks import mutex_acquire, mutex_release, should_abandon, ttas_acquire, ttas_release

STRIDE = 1_000_003            # word i of value v is v + i * STRIDE
SEQ = 0                       # index of the sequence word in the seqlock's array
SEQ_LOCK = 16                 # index of the writers' lock word in the same array


@inline_kernel
def torn(first, word, i):
    """True if ``word`` (the i-th word read) does not belong to the value whose first word is ``first``."""
    return word != first + i * STRIDE


@inline_kernel
def atomic_write(cell, v):
    # release: pairs with load_acquire in atomic_read.
    A.store_release(cell, 0, v)


@inline_kernel
def atomic_read(cell):
    # acquire: pairs with store_release in atomic_write.
    return A.load_acquire(cell, 0)


@inline_kernel
def locked_write(cell, words, lock, ctl, v):
    """Returns futex sleeps, or -1 if the run stopped while waiting (nothing written)."""
    w = mutex_acquire(lock, 0, ctl)
    if w < 0:
        return -1
    for i in range(words):
        A.store_relaxed(cell, i, v + i * STRIDE)   # relaxed: ordered by the mutex
    mutex_release(lock, 0)
    return w


@inline_kernel
def locked_read(cell, words, lock, ctl):
    """Returns the number of torn words seen (0 when the lock works), or -1 on stop."""
    w = mutex_acquire(lock, 0, ctl)
    if w < 0:
        return -1
    first = A.load_relaxed(cell, 0)   # relaxed: ordered by the mutex
    bad = 0
    for i in range(1, words):
        if torn(first, A.load_relaxed(cell, i), i):
            bad += 1
    mutex_release(lock, 0)
    return bad


@inline_kernel
def seqlock_write(cell, words, seq, ctl, v):
    """Returns lock waits, or -1 if the run stopped while waiting (nothing written)."""
    w = ttas_acquire(seq, SEQ_LOCK, ctl)
    if w < 0:
        return -1
    s = A.load_relaxed(seq, SEQ)           # relaxed: only writers (serialized) write it
    A.store_relaxed(seq, SEQ, s + 1)
    # release fence: the data stores below cannot become visible before seq is odd.
    A.fence_release()
    for i in range(words):
        A.store_relaxed(cell, i, v + i * STRIDE)
    # release: pairs with load_acquire(SEQ) in seqlock_read: the data is complete.
    A.store_release(seq, SEQ, s + 2)
    ttas_release(seq, SEQ_LOCK)
    return w


@inline_kernel
def seqlock_read(cell, words, seq, ctl, torn_out, tid):
    """Returns the number of retries, or -1 on stop. A validated copy that is still torn
    (impossible unless the seqlock is broken) is counted in ``torn_out[tid, 0]``."""
    retries = 0
    while True:
        # acquire: pairs with store_release(SEQ) in seqlock_write.
        s1 = A.load_acquire(seq, SEQ)
        if (s1 & 1) == 0:
            first = A.load_relaxed(cell, 0)
            bad = 0
            for i in range(1, words):
                if torn(first, A.load_relaxed(cell, i), i):
                    bad += 1
            # acquire fence: the copies above cannot move below the re-check.
            A.fence_acquire()
            if A.load_relaxed(seq, SEQ) == s1:
                if bad:
                    A.store_relaxed(torn_out, (tid, 0), A.load_relaxed(torn_out, (tid, 0)) + bad)
                return retries
        retries += 1
        A.cpu_relax()
        if should_abandon(ctl, retries):
            return -1
