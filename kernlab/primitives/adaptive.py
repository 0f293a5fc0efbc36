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
    seqlock   primitives.seqlock (the one seqlock): writers make the sequence odd while
              writing; readers copy optimistically and retry if the sequence was odd or
              changed (Lameter; Linux ``seqlock_t``). Readers never write shared memory.

Invariants
    Every read returns a value that some write stored whole (checked: torn reads = 0).
    seqlock: the sequence is odd exactly while a writer is between its two increments.

Memory ordering
    adaptive word: store_release / load_acquire (pairs with each other), so a reader that
    sees a value also sees what the writer did before it (the catalogue reads with
    Acquire). mutex: the lock's acquire/release orders the copies (see locks).
    seqlock: as proven in primitives.seqlock (Boehm, MSPC 2012): ``write_begin`` ends
    in ``fence_release`` so the relaxed data stores cannot move above the odd sequence,
    ``write_end`` is a release store; ``read_begin`` is an acquire load and
    ``read_retry`` a ``fence_acquire`` before the relaxed re-check.

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
from ..harness import should_abandon
from ..jit import inline_kernel
from . import seqlock as SL
from .locks import mutex_acquire, mutex_release

STRIDE = 1_000_003            # word i of value v is v + i * STRIDE


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
    """Returns ``(sleeps, torn words seen)``: futex sleeps while acquiring, and torn
    words (0 when the lock works); sleeps is -1 if the run stopped while waiting."""
    w = mutex_acquire(lock, 0, ctl)
    if w < 0:
        return -1, 0
    first = A.load_relaxed(cell, 0)   # relaxed: ordered by the mutex
    bad = 0
    for i in range(1, words):
        if torn(first, A.load_relaxed(cell, i), i):
            bad += 1
    mutex_release(lock, 0)
    return w, bad


@inline_kernel
def seqlock_write(cell, words, seq, ctl, v):
    """Returns writer spins, or -1 if the run stopped while waiting (nothing written)."""
    w = SL.write_begin(seq, 0, ctl)
    if w < 0:
        return -1
    for i in range(words):
        A.store_relaxed(cell, i, v + i * STRIDE)   # relaxed: ordered by the seqlock (see seqlock)
    SL.write_end(seq, 0)
    return w


@inline_kernel
def seqlock_read(cell, words, seq, ctl, torn_out, tid):
    """Returns the number of retries, or -1 on stop. A validated copy that is still torn
    (impossible unless the seqlock is broken) is counted in ``torn_out[tid, 0]``."""
    retries = 0
    while True:
        s1 = SL.read_begin(seq, 0)
        if (s1 & 1) == 0:
            first = A.load_relaxed(cell, 0)   # relaxed: validated by read_retry
            bad = 0
            for i in range(1, words):
                if torn(first, A.load_relaxed(cell, i), i):
                    bad += 1
            if not SL.read_retry(seq, 0, s1):
                if bad:
                    A.store_relaxed(torn_out, (tid, 0), A.load_relaxed(torn_out, (tid, 0)) + bad)
                return retries
        retries += 1
        A.cpu_relax()
        if should_abandon(ctl, retries):
            return -1
