"""Cache-line ping-pong: a token passed around a ring of threads through one word.

Algorithm
    One int64 on its own cache-line pair counts hand-offs. T threads form a ring: the
    ``n``-th hand-off of thread ``tid`` moves the counter from ``n*T + tid`` to
    ``n*T + tid + 1``, which is the next thread's turn. With two threads pinned to two
    CPUs every hand-off moves the line from one core's cache to the other's, so the time
    per hand-off is the one-way core-to-core latency of a contended line (the CAS
    benchmark of core-to-core-latency; ccbench's "CAS on a line in another core's
    cache"). Two ways to wait for one's turn:

    cas        retry the compare-exchange until it succeeds, as core-to-core-latency
               does: every failed try also asks for the line exclusively;
    read_cas   read until the counter shows one's turn, then one compare-exchange
               (test-and-test-and-set style): waiting shares the line, and the
               successful CAS pays one more ownership transfer.

    With T = 1 the thread passes the token to itself: an uncontended CAS, the floor.

Invariants
    The counter only grows, by one per successful CAS, and only the thread whose turn
    it is can succeed (every other expected value differs). After the run it equals
    the number of successful hand-offs: the sum of the per-thread op counts, or that
    sum plus nothing else (a thread that gave up returned -1 without counting).

Memory ordering
    relaxed: the token carries no data. Each CAS pairs with the previous holder's CAS on
    the same word through the word's modification order alone (a read-modify-write
    always reads the latest value), which is all the ring needs. On x86 any ordering
    compiles to the same ``lock cmpxchg``; on ARM relaxed measures the transfer, not a
    barrier.

Progress guarantee
    Blocking: a thread waits for the previous one in the ring. Waiters spin without a
    ``pause``: on recent x86 one pause lasts ~40 ns, which would round every hand-off
    up to whole pauses (core-to-core-latency spins bare too). Waits observe the stop
    flag and the deadline; after YIELD_AFTER failed tries a waiter gives its CPU away
    (the next in the ring may be waiting for it), so a pair on one CPU still advances.

References
    nviennot/core-to-core-latency (Rust, CAS ping-pong heatmaps); H. Schweizer, M.
    Besta, T. Hoefler, "Evaluating the Cost of Atomic Operations on Modern
    Architectures", PACT 2015; T. David, R. Guerraoui, V. Trigonakis, "Everything You
    Always Wanted to Know About Synchronization but Were Afraid to Ask", SOSP 2013
    (ccbench); McKenney, "Is Parallel Programming Hard", ch. 3.
"""
from .. import atomics as A
from ..harness import should_abandon
from ..jit import inline_kernel

YIELD_AFTER = 1 << 12     # failed tries (tens of microseconds) before a waiter yields its CPU


@inline_kernel
def _waited(ctl, spins):
    """Bookkeeping of one failed try: True when the run is stopping."""
    if should_abandon(ctl, spins):
        return True
    if (spins & (YIELD_AFTER - 1)) == 0:
        A.yield_thread()
    return False


@inline_kernel
def hand_off_cas(word, turn, ctl):
    """Move the counter from ``turn`` to ``turn + 1``, retrying the CAS until it is our
    turn. Returns the failed tries, or -1 when the run is stopping."""
    spins = 0
    # relaxed: pairs with the previous holder's CAS through the word's modification order.
    while not A.cas_relaxed(word, 0, turn, turn + 1):
        spins += 1
        if _waited(ctl, spins):
            return -1
    return spins


@inline_kernel
def hand_off_read_cas(word, turn, ctl):
    """Wait (reading) until the counter equals ``turn``, then CAS it to ``turn + 1``
    (it cannot fail then: no one else may move it). Returns the reads that did not
    show our turn, or -1 when the run is stopping."""
    spins = 0
    # relaxed: the CAS below is what takes the turn; the load only waits for it.
    while A.load_relaxed(word, 0) != turn:
        spins += 1
        if _waited(ctl, spins):
            return -1
    # relaxed: pairs with the previous holder's CAS through the word's modification order.
    A.cas_relaxed(word, 0, turn, turn + 1)
    return spins
