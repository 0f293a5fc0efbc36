"""Test-and-test-and-set spin lock with bounded exponential backoff.

Algorithm
    The lock is one word: 0 free, 1 held. To acquire, spin reading the word (the
    "test": a read hits the local cache, so waiters do not steal the line from the
    holder) and only when it reads 0 try to swing it 0 -> 1 with a compare-exchange
    (the "test-and-set"). After a failed attempt wait a backoff that doubles up to a
    cap, so that a crowd of waiters does not stampede the line on every release.

Invariants
    At most one thread has returned True from ``ttas_acquire`` and not yet called
    ``ttas_release``. Only the holder writes 0.

Memory ordering
    The successful compare-exchange is *acquire*: the holder's critical-section
    accesses cannot move above it and it sees everything the previous holder wrote
    before its release. ``ttas_release`` is a *release* store: the holder's writes are
    visible before the lock reads 0. The spinning reads are relaxed: they only decide
    when to try; the acquire CAS does the synchronizing.

Progress guarantee
    Blocking, not starvation-free: a thread can lose every race. A preempted holder
    stalls every waiter (they spin on a core while the holder waits for one), which
    is the oversubscription lesson. Spinners poll the run's stop flag and deadline, so
    a run always ends.

References
    Anderson, "The performance of spin lock alternatives for shared-memory
    multiprocessors", IEEE TPDS 1990; Herlihy & Shavit, The Art of Multiprocessor
    Programming, ch. 7 (TTASLock, BackoffLock); crossbeam-utils ``Backoff``.
"""
# The implementation lives with the rest of the lock zoo (primitives.locks), compiled
# without reference counting; this module keeps the name its users import.
from .locks import BACKOFF_MAX_SPINS, ttas_acquire, ttas_release  # noqa: F401
