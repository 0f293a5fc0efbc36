"""A FIFO free list of object ids, for fixed pools whose freed objects are poisoned.

Algorithm
    A ring of ``capacity`` ids with monotonic ``head`` and ``tail`` counters (pop at
    head, push at tail). It is FIFO on purpose: an object freed (and poisoned) now is
    reused only after every other free object, so poison stays in memory as long as
    possible and a reader that wrongly still holds a freed object is likely to see it.
    A LIFO stack would hand the object straight back to the next writer, which would
    overwrite the poison with a plausible record and hide the bug.

Invariants
    ``0 <= tail - head <= capacity``; every id is in the ring at most once (the pools
    only push ids they popped, or retired ids after their grace period).

Memory ordering
    None of its own: every call happens under the owning pool's lock (a TTAS spin
    lock, primitives.locks), whose acquire/release orders the ring accesses. Plain
    loads and stores suffice.

Progress guarantee
    Wait-free under the caller's lock (O(1) per call).

References
    The free lists of slab allocators (Bonwick, "The Slab Allocator", USENIX 1994);
    liburcu's poisoning of freed nodes (``urcu/rculfhash`` debug mode).
"""
import numpy as np

from ..jit import kernel

HEAD, TAIL, CAPACITY = 0, 1, 2
LOCK = 3                   # a spin-lock word for owners that lock the list by itself
DATA = 16                  # ids start on their own cache line


def make_fifo(capacity: int, ids=()) -> np.ndarray:
    """A ring for ``capacity`` ids, pre-filled with ``ids``."""
    ring = np.zeros(DATA + max(capacity, 1), np.int64)
    ring[CAPACITY] = capacity
    ids = np.asarray(ids, np.int64)
    ring[DATA:DATA + len(ids)] = ids
    ring[TAIL] = len(ids)
    return ring


@kernel
def fifo_len(ring):
    return ring[TAIL] - ring[HEAD]


@kernel
def fifo_push(ring, obj):
    ring[DATA + ring[TAIL] % ring[CAPACITY]] = obj
    ring[TAIL] += 1


@kernel
def fifo_pop(ring):
    """The oldest id, or -1 if empty."""
    if ring[TAIL] == ring[HEAD]:
        return -1
    obj = ring[DATA + ring[HEAD] % ring[CAPACITY]]
    ring[HEAD] += 1
    return obj
