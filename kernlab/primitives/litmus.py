"""Memory-ordering litmus tests: store buffering (SB) and message passing (MP), run one
iteration at a time by two threads in lockstep, each outcome counted.

Algorithm
    Every iteration ``n`` the two threads meet at a rendezvous, each waits a short random
    delay (so their halves overlap at a different offset every time, as the random delay
    in Preshing's "Memory reordering caught in the act" does), then runs its half of the
    test on shared words, each word on its own cache-line pair. Values are tagged with
    the iteration: in iteration ``n`` a store writes ``n + 1``, so a load that returns
    ``n`` saw the *old* value (the textbook's 0) and nothing needs resetting between
    iterations. Each thread writes what it saw into its row of a small result ring; after
    the next rendezvous thread 0 reads both rows and counts the outcome.

        SB   T0: X = new; [fence]; r0 = Y        T1: Y = new; [fence]; r1 = X
             outcome 2*r0_new + r1_new; 0 (both old) needs a store to pass a later load
        MP   T0: data = new; flag = new          T1: f = flag; d = data
             outcome 2*f_new + d_new; 2 (flag new, data old) needs two accesses reordered

    The rendezvous is two words: thread ``tid`` stores ``n + 1`` into its own arrival
    word and spins until its partner's reaches ``n + 1``. It uses no read-modify-write
    and no fence, so the only locked instructions or fences in a variant's machine code
    are the ones its ordering asks for (notebook 15 shows them).

Invariants
    Between two rendezvous both threads are in the same iteration: thread ``tid`` cannot
    pass rendezvous ``n + 1`` before its partner has finished iteration ``n``. So a load
    in iteration ``n`` returns ``n`` or ``n + 1``, never anything else, and the result of
    iteration ``n - 1`` sits in ring slot ``(n - 1) % RING`` until both threads have left
    rendezvous ``n + 1`` (RING = 4 > 2 keeps a margin).

Memory ordering
    Rendezvous: ``store_release`` of a thread's arrival pairs with the partner's
    ``load_acquire`` spin. Everything a thread did in iteration ``n - 1`` (its stores to
    the shared words and its result row) therefore happens-before its partner's
    iteration ``n``: a load in iteration ``n`` cannot return a value older than ``n``
    (coherence), and thread 0's classification reads complete rows. The test bodies use
    exactly the orderings in each variant's name (``sb_acq_rel``: store_release, then
    load_acquire; ``sb_seq_cst``: relaxed accesses around ``fence_seq_cst``...); the
    experiment lists which outcome each ordering forbids.

Progress guarantee
    Blocking: a rendezvous waits for the partner. A spinner gives its CPU away
    (``sched_yield``) every YIELD_AFTER spins, so two threads pinned to one CPU still
    take turns; every wait observes the stop flag and the deadline.

References
    J. Preshing, "Memory Reordering Caught in the Act" (2012); P. Sewell et al., "x86-TSO:
    a rigorous and usable programmer's model for x86 multiprocessors", CACM 2010;
    J. Alglave, L. Maranget, M. Tautschnig, "Herding Cats", TOPLAS 2014 (the litmus7 and
    herd tools); C++ [atomics.order]; McKenney, "Is Parallel Programming Hard", ch. 15.
"""
import numpy as np

from .. import atomics as A
from ..harness import should_abandon
from ..jit import inline_kernel
from ..layout import padded_rows

RING = 4                  # result slots per thread (two would do, see Invariants)
YIELD_AFTER = 1 << 8      # spins (~10 us of pauses) before a waiting thread gives its CPU away

# Rows of the shared `words` array (each row on its own line pair).
X, Y = 0, 1               # SB: thread 0 stores X and loads Y, thread 1 the other way round
DATA, FLAG = 0, 1         # MP: thread 0 writes data then flag, thread 1 reads flag then data
# Columns of a thread's `sync` row.
ARRIVED, RNG, JITTER = 0, 1, 2
# Columns of the `counts` row: the four outcomes, observations from another iteration
# (a protocol error, never expected), and which test ran (set by the op, read by the check).
OUTCOMES, BAD, TEST = 4, 4, 5


def litmus_state(threads: int, jitter: int):
    """``(words, sync, results, counts)`` for one trial; ``sync`` holds each thread's
    arrival word, random state and delay bound, ``counts`` the outcome counts (written
    by thread 0 only)."""
    words = padded_rows(2, 1)
    sync = padded_rows(threads, 3)
    sync[:, RNG] = np.arange(threads) * 7919 + 12345          # xorshift states: distinct, never 0
    sync[:, JITTER] = jitter
    results = padded_rows(threads, RING)
    counts = padded_rows(1, TEST + 1)
    return words, sync, results, counts


@inline_kernel
def rendezvous(sync, tid, n, ctl):
    """Announce iteration ``n`` and wait until the partner has announced it too.
    Returns the spins (>= 0) or -1 when the run is stopping."""
    # release: pairs with the partner's load_acquire below (our iteration n - 1 is done).
    A.store_release(sync, (tid, ARRIVED), n + 1)
    spins = 0
    # acquire: pairs with the partner's store_release above.
    while A.load_acquire(sync, (1 - tid, ARRIVED)) < n + 1:
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            return -1
        if (spins & (YIELD_AFTER - 1)) == 0:
            A.yield_thread()   # the partner may be waiting for this very CPU
    return spins


@inline_kernel
def jitter_delay(sync, tid):
    """Spin a random 0 .. jitter-1 rounds (xorshift64 in the thread's own sync row)."""
    jitter = sync[tid, JITTER]
    if jitter <= 0:
        return
    r = np.uint64(sync[tid, RNG])
    r ^= r << np.uint64(13)
    r ^= r >> np.uint64(7)
    r ^= r << np.uint64(17)
    sync[tid, RNG] = np.int64(r)   # the same 64 bits (never all zero: xorshift keeps them nonzero)
    for _ in range(np.int64(r % np.uint64(jitter))):
        A.compiler_barrier()   # keeps the empty loop; emits no instruction


@inline_kernel
def record(results, counts, tid, n, seen, test):
    """Store this thread's observation of iteration ``n``; thread 0 also counts the
    outcome of iteration ``n - 1``, whose two observations are complete (see Invariants).
    The outcome is ``2 * thread 0's + thread 1's`` observation; MP's observer is thread 1
    alone, which returns both bits (thread 0 returns 0). -1 marks a value from another
    iteration: a protocol error, counted apart."""
    # relaxed: published by the next rendezvous's store_release.
    A.store_relaxed(results, (tid, n % RING), seen)
    if tid == 0:
        if n == 0:
            counts[0, TEST] = test   # thread 0 is the only writer of counts; read after join
        else:
            prev = (n - 1) % RING
            # relaxed: thread 1's row was published by its store_release in this rendezvous,
            # which our load_acquire there observed.
            s0, s1 = A.load_relaxed(results, (0, prev)), A.load_relaxed(results, (1, prev))
            if s0 < 0 or s1 < 0:
                counts[0, BAD] += 1
            else:
                counts[0, 2 * s0 + s1] += 1


# ----------------------------------------------------------------------------- SB bodies
# Each returns 1 when its load saw this iteration's value (the partner's store was
# visible), 0 for the old value, -1 for anything else (see Invariants).

@inline_kernel
def seen_new(value, n):
    s = value - n
    return s if s == 0 or s == 1 else np.int64(-1)


@inline_kernel
def sb_relaxed(words, tid, n):
    # relaxed: pairs with nothing; SB with relaxed accesses allows both loads to be old.
    A.store_relaxed(words, (tid, 0), n + 1)
    return seen_new(A.load_relaxed(words, (1 - tid, 0)), n)


@inline_kernel
def sb_acq_rel(words, tid, n):
    # release/acquire: pair with each other across threads, yet order only "earlier
    # before release" and "acquire before later": a store may still pass a later load.
    A.store_release(words, (tid, 0), n + 1)
    return seen_new(A.load_acquire(words, (1 - tid, 0)), n)


@inline_kernel
def sb_seq_cst_fence(words, tid, n):
    A.store_relaxed(words, (tid, 0), n + 1)   # relaxed: ordered by the fence below
    # seq_cst fence on both sides: the two fences are totally ordered, so whichever comes
    # second makes its load see the other thread's store (C++ [atomics.fences]).
    A.fence_seq_cst()
    return seen_new(A.load_relaxed(words, (1 - tid, 0)), n)   # relaxed: ordered by the fence


@inline_kernel
def sb_seq_cst_ops(words, tid, n):
    # seq_cst store and load: one total order over all four accesses forbids both old.
    A.store_seq_cst(words, (tid, 0), n + 1)
    return seen_new(A.load_seq_cst(words, (1 - tid, 0)), n)


@inline_kernel
def sb_one_fence(words, tid, n):
    A.store_relaxed(words, (tid, 0), n + 1)   # relaxed: ordered by the fence, on thread 0 only
    if tid == 0:
        # a fence on one side only (broken on purpose): thread 1's store can still pass
        # its load, so both-old stays possible.
        A.fence_seq_cst()
    return seen_new(A.load_relaxed(words, (1 - tid, 0)), n)


# ----------------------------------------------------------------------------- MP bodies
# Thread 0 writes data, then flag; thread 1 returns 2 * flag_new + data_new (-1: neither
# this nor the previous iteration's value, a protocol error).

@inline_kernel
def mp_read(flag, data, n):
    f, d = seen_new(flag, n), seen_new(data, n)
    return 2 * f + d if f >= 0 and d >= 0 else np.int64(-1)


@inline_kernel
def mp_relaxed(words, tid, n):
    if tid == 0:
        # relaxed: nothing orders the two stores for the reader (x86 keeps them in order anyway).
        A.store_relaxed(words, (DATA, 0), n + 1)
        A.store_relaxed(words, (FLAG, 0), n + 1)
        return np.int64(0)
    flag = A.load_relaxed(words, (FLAG, 0))   # relaxed: pairs with nothing (see above)
    return mp_read(flag, A.load_relaxed(words, (DATA, 0)), n)


@inline_kernel
def mp_acq_rel(words, tid, n):
    if tid == 0:
        A.store_relaxed(words, (DATA, 0), n + 1)   # relaxed: published by the release below
        # release: pairs with the reader's load_acquire of the flag.
        A.store_release(words, (FLAG, 0), n + 1)
        return np.int64(0)
    # acquire: pairs with the writer's store_release; the data load cannot move above it.
    flag = A.load_acquire(words, (FLAG, 0))
    return mp_read(flag, A.load_relaxed(words, (DATA, 0)), n)   # relaxed: after the acquire
