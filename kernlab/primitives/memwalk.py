"""Walking a table of process records across the memory hierarchy, with and without prefetch.

Algorithm
    A table of N records of ``record_bytes`` (an ``(N, WORDS)`` int64 array; word NEXT
    links the records into one random cycle, word VALUE is the payload) is visited one
    record per step, four ways:

    ``sequential``   records in address order: the hardware prefetcher sees the stride
                     and streams lines in ahead of the loads;
    ``random``       in a seeded random order read from an index array (``order``):
                     every visit to a table bigger than a cache level misses it;
    ``prefetched``   the same random order, with a software prefetch of the record
                     ``distance`` steps ahead (``atomics.prefetch_read``), so up to
                     ``distance`` misses are in flight while the current record is read;
    ``linked``       following NEXT (the same random cycle as ``order``): each address
                     is known only when the previous load returns, so nothing can be
                     fetched ahead and every step pays the full latency of the level the
                     table lives in. That is the latency staircase.

    A walker's cursor (its position in the walk, or its current record for ``linked``)
    and its running sum live in the walker's own row of ``walkers``.

Invariants
    After k steps from position s, a walker's sum equals the sum of VALUE over the
    records at walk positions s, s+1, ..., s+k-1 (mod N), where the walk is address
    order for ``sequential`` and ``order`` for the other three (the linked cycle follows
    ``order``: ``records[order[i], NEXT] == order[i + 1]``).

Memory ordering
    None: records and order are read-only while walkers run, each walker writes only its
    own row, and the runner's thread start and join order setup and the check around them.

Progress guarantee
    Wait-free: one record (and at most one prefetch) per step.

References
    Drepper, "What Every Programmer Should Know About Memory" (2007), sections 3.3 and
    6.3 (the pointer-chasing staircase, software prefetch); the Linux kernel's
    ``prefetch()`` in list walks and why it was removed from ``list_for_each``
    (2011: hardware prefetchers made it a loss for short lists).
"""
import numpy as np

from .. import atomics as A
from ..jit import inline_kernel

NEXT, VALUE = 0, 1
CURSOR, SUM = 0, 1                  # columns of a walker's row


@inline_kernel
def _advance(walkers, tid, position, n_records, value):
    nxt = position + 1
    if nxt == n_records:
        nxt = 0
    walkers[tid, CURSOR] = nxt
    walkers[tid, SUM] += value


@inline_kernel
def step_sequential(records, walkers, tid):
    p = walkers[tid, CURSOR]
    _advance(walkers, tid, p, records.shape[0], records[p, VALUE])


@inline_kernel
def step_random(records, order, walkers, tid):
    p = walkers[tid, CURSOR]
    _advance(walkers, tid, p, records.shape[0], records[order[p], VALUE])


@inline_kernel
def step_prefetched(records, flat, order, walkers, tid, distance):
    """``flat`` is ``records`` viewed as one row of words (a prefetch takes one index)."""
    p = walkers[tid, CURSOR]
    ahead = p + distance
    if ahead >= records.shape[0]:
        ahead -= records.shape[0]
    A.prefetch_read(flat, order[ahead] * records.shape[1])
    _advance(walkers, tid, p, records.shape[0], records[order[p], VALUE])


@inline_kernel
def step_linked(records, walkers, tid):
    r = walkers[tid, CURSOR]
    walkers[tid, SUM] += records[r, VALUE]
    walkers[tid, CURSOR] = records[r, NEXT]


# ----------------------------------------------------------------------------- building (setup time)

def value_of(record_index: np.ndarray) -> np.ndarray:
    """The payload of each record: distinct enough that a visit to a wrong record shows."""
    return (record_index.astype(np.int64) * 7919) % 1_000_003 + 1


def build_table(n_records: int, record_bytes: int, seed: int):
    """``(records, order)``: the records (NEXT linking the random cycle ``order``) and
    the random order itself."""
    words = record_bytes // 8
    records = np.zeros((n_records, words), np.int64)
    order = np.random.default_rng(seed).permutation(n_records).astype(np.int64)
    records[:, VALUE] = value_of(np.arange(n_records))
    records[order, NEXT] = np.roll(order, -1)
    return records, order


def expected_sum(values_in_walk_order: np.ndarray, start: int, steps: int) -> int:
    """The sum over ``steps`` positions of a cyclic walk from ``start``."""
    n = len(values_in_walk_order)
    prefix = np.concatenate([[0], np.cumsum(values_in_walk_order, dtype=np.int64)])
    cycles, rest = divmod(int(steps), n)
    end = start + rest
    partial = prefix[min(end, n)] - prefix[start] + (prefix[end - n] if end > n else 0)
    return int(cycles * prefix[n] + partial)
