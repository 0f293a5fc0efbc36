"""Sequence lock: readers copy optimistically and retry if a writer overlapped.

Algorithm
    A sequence word, even when no write is in progress. A writer makes it odd (a CAS
    from an even value, which also serializes writers), writes the data, and makes it
    even again (+1). A reader loads the sequence; if odd it waits; otherwise it copies
    the data and loads the sequence again. Equal values mean no write overlapped the
    copy; otherwise it retries. Readers never write shared memory, so any number of
    them read in parallel without moving a cache line, and a writer never waits for
    readers. The price: a reader may retry (counted here), and the data must be
    copied out before it can be trusted.

    ``torn_read`` is the same reader *without* the retry: broken on purpose. Under a
    concurrent writer it returns snapshots mixing two writes, which the self-checking
    payload (every field derived from one value) exposes.

    The steps are public so that other primitives build on this one seqlock (the
    adaptive cell's large-value path does): ``write_begin``/``write_end`` around the
    writer's stores, ``read_begin``/``read_retry`` around the reader's copy.

    The reader path (``read``, ``torn_read``, ``plain_read``) and the uncontended writer
    steps are ``inline_kernel``s: a call that passes four arrays field by field would
    cost more than the sequence check itself (see kernlab.jit). A contended
    ``write_begin`` keeps its spin loop out of line.

Invariants
    seq even <=> no writer inside. A snapshot returned by ``read`` was copied entirely
    while seq held one even value, so it is one writer's complete output.

Memory ordering (Boehm, "Can seqlocks get along with programming language memory
models?", MSPC 2012: data accessed with relaxed atomics, fences placed as below)
    * writer: ``cas_acquire`` even -> odd (acquire pairs with the previous writer's
      ``store_release``); then ``fence_release``, so that the odd value is ordered
      before the data stores: a reader that sees any new data and then issues its
      ``fence_acquire`` must also see seq odd (or later) on its second load. Data
      stores relaxed; the closing ``store_release`` of seq + 1 orders them before the
      even value (pairs with the reader's first ``load_acquire``).
    * reader: ``load_acquire`` of seq (pairs with the writer's closing store_release:
      the data of that write is visible), relaxed data loads, ``fence_acquire`` (keeps
      the data loads before the second seq load; pairs with the writer's
      ``fence_release``), relaxed second load of seq.

Progress guarantee
    Writers: blocking among themselves (the odd sequence is a lock). Readers: not
    wait-free, not even lock-free in the classic sense: a steady stream of writers can
    make a reader retry forever (readers starve; the retry count shows it). Every
    wait polls the run's stop flag.

References
    Lameter, "Effective synchronization on Linux/NUMA systems" (seqlocks), 2005; Linux
    ``include/linux/seqlock.h``; Boehm 2012 (above); crossbeam-utils ``seq_lock.rs``;
    Concurrency Kit ``ck_sequence.h`` and its self-checking regression.
"""
import numpy as np

from .. import atomics as A
from ..harness import should_abandon
from ..jit import inline_kernel, kernel
from ..workload import FIBONACCI


@inline_kernel
def field_value(value, i):
    """Field i of a snapshot of ``value``: every field is derived from one value, so a
    reader can tell a snapshot mixing two writes on its own."""
    return np.int64(np.uint64(value) ^ (np.uint64(i) * FIBONACCI))


@inline_kernel
def snapshot_consistent(buf, k):
    """True if the k fields in ``buf`` all derive from the same value."""
    v = buf[0]
    for i in range(1, k):
        if buf[i] != field_value(v, i):
            return False
    return True


@inline_kernel
def write_begin(seq, i, ctl):
    """Make seq odd (serializes writers). Returns spins, or -1 if the run stopped."""
    # relaxed: a hint; the CAS decides.
    s = A.load_relaxed(seq, i)
    # acquire: pairs with store_release in write_end (the previous writer's data).
    if (s & 1) == 0 and A.cas_acquire(seq, i, s, s + 1):
        A.fence_release()   # pairs with fence_acquire in read_retry (see docstring)
        return 0
    return _write_begin_contended(seq, i, ctl)


@kernel
def _write_begin_contended(seq, i, ctl):
    spins = 1
    while True:
        # relaxed: a hint; the CAS decides.
        s = A.load_relaxed(seq, i)
        # acquire: pairs with store_release in write_end (the previous writer's data).
        if (s & 1) == 0 and A.cas_acquire(seq, i, s, s + 1):
            A.fence_release()   # pairs with fence_acquire in read_retry (see docstring)
            return spins
        A.cpu_relax()
        spins += 1
        if should_abandon(ctl, spins):
            return -1


@inline_kernel
def write_end(seq, i):
    # relaxed: we own the odd value; release: pairs with load_acquire in read_begin.
    A.store_release(seq, i, A.load_relaxed(seq, i) + 1)


@inline_kernel
def write_fields(data, k, value):
    for j in range(k):
        # relaxed: ordered by write_begin's fence_release and write_end's store_release.
        A.store_relaxed(data, j, field_value(value, j))


@inline_kernel
def read_begin(seq, i):
    """The sequence a read section starts from (odd: a writer is inside, retry)."""
    # acquire: pairs with store_release in write_end (that write's data is visible).
    return A.load_acquire(seq, i)


@inline_kernel
def read_retry(seq, i, s1):
    """True if the copy made since ``read_begin`` returned ``s1`` cannot be trusted."""
    A.fence_acquire()   # the copy's loads stay above the re-check; pairs with fence_release in write_begin
    # relaxed: ordered by the fence above.
    return (s1 & 1) != 0 or A.load_relaxed(seq, i) != s1


@inline_kernel
def read(seq, i, data, k, buf, ctl):
    """Copy a consistent snapshot of data[0:k] into buf; returns retries, or -1 if stopped."""
    retries = 0
    while True:
        s1 = read_begin(seq, i)
        if (s1 & 1) == 0:
            for j in range(k):
                buf[j] = A.load_relaxed(data, j)   # relaxed: validated by read_retry
            if not read_retry(seq, i, s1):
                return retries
        else:
            A.cpu_relax()
        retries += 1
        if should_abandon(ctl, retries):
            return -1


@inline_kernel
def torn_read(seq, i, data, k, buf):
    """BROKEN on purpose: a seqlock read that never retries. Returns 1 if the sequence
    said the copy overlapped a write (and returns it anyway), else 0."""
    s1 = read_begin(seq, i)
    for j in range(k):
        buf[j] = A.load_relaxed(data, j)   # relaxed: never validated: that is the bug
    return 1 if read_retry(seq, i, s1) else 0


@inline_kernel
def plain_read(data, k, buf):
    """Baseline, not a seqlock: copy data[0:k] with no synchronization at all. With no
    writer it is the cost floor a seqlock read is measured against; with one it tears."""
    for j in range(k):
        buf[j] = A.load_relaxed(data, j)   # relaxed: nothing orders or validates the copy
