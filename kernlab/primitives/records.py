"""Self-checking records: a table entry a reader can verify on its own.

Algorithm
    A record is a row of ``RECORD_FIELDS`` int64 words: the key, a per-key sequence
    number (how many updates that key has seen), a generation (a unique serial; its
    sign says whether the key is present: a removal writes a tombstone record with a
    negative generation), and a checksum mixing the other three. A reader copies the
    row and recomputes the checksum: a row stitched together from two writes (torn)
    fails it. Freed records are filled with ``POISON``; a reader that ever sees
    ``POISON`` has read memory that was reclaimed under it. Slot arrays (key ->
    record index) use ``POISON`` too, so a reclaimed slot array is caught as well.

Invariants
    A record that was ever published is whole: ``checksum == mix(key, seq, gen)``.
    Its key field equals the key it was found under. A poisoned row has every word
    equal to ``POISON`` (which no whole record can contain as its key).

Memory ordering
    Fields are written and read with relaxed atomics: they carry no ordering of their
    own. Whoever publishes a record (a lock release, an RCU publish, a release CAS on
    a slot) orders the field writes before the publication; the reader's matching
    acquire orders its field reads after it. The atomics only make racy reads (the
    broken variants, or a too-early reclamation) well-defined, so that they can be
    *detected* rather than being undefined behaviour.

Progress guarantee
    Wait-free: a fixed number of loads or stores. The read side (``read_record``,
    ``mix``, ``count_error``) runs on every lookup and is inlined into its caller.

References
    Concurrency Kit's regressions (self-checking seqlock payloads); liburcu's tests
    (poisoned freed objects asserted by readers).
"""
import numpy as np

from .. import atomics as A
from ..jit import inline_kernel, kernel
from ..workload import FIBONACCI

RECORD_FIELDS = 4
KEY, SEQ, GEN, SUM = range(RECORD_FIELDS)
POISON = np.int64(-0x2152411021524111)      # 0xDEADBEEFDEADBEEF as a signed int64

# lookup outcomes
FOUND, ABSENT, TORN, POISONED, WRONG_KEY = 0, 1, 2, 3, 4
# per-thread error counters (columns of an error row)
ERR_TORN, ERR_POISON, ERR_WRONG_KEY = 0, 1, 2


@inline_kernel   # on every lookup (read_record), as are read_record and count_error
def mix(key, seq, gen):
    """A 64-bit hash of the three payload words (splitmix64 finaliser)."""
    z = np.uint64(key) * FIBONACCI ^ np.uint64(seq) * np.uint64(0xBF58476D1CE4E5B9) \
        ^ np.uint64(gen) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.int64(z ^ (z >> np.uint64(31)))


@kernel
def write_record(records, r, key, seq, gen):
    # relaxed: published later by the caller's release (lock, RCU publish or slot CAS).
    A.store_relaxed(records, (r, KEY), key)
    A.store_relaxed(records, (r, SEQ), seq)
    A.store_relaxed(records, (r, GEN), gen)
    A.store_relaxed(records, (r, SUM), mix(key, seq, gen))


@kernel
def poison_record(records, r):
    for f in range(RECORD_FIELDS):
        # relaxed: only a reader that should not be here can see it; it must see *something* defined.
        A.store_relaxed(records, (r, f), POISON)


@inline_kernel
def read_record(records, r, key):
    """Copy and verify record ``r`` found under ``key``: (outcome, seq, gen).
    outcome is FOUND / ABSENT (a tombstone) / TORN / POISONED / WRONG_KEY."""
    # relaxed: ordered after the caller's acquire (lock, RCU dereference, slot load).
    k = A.load_relaxed(records, (r, KEY))
    seq = A.load_relaxed(records, (r, SEQ))
    gen = A.load_relaxed(records, (r, GEN))
    check = A.load_relaxed(records, (r, SUM))
    if k == POISON or seq == POISON or gen == POISON or check == POISON:
        return POISONED, seq, gen
    if check != mix(k, seq, gen):
        return TORN, seq, gen
    if k != key:
        return WRONG_KEY, seq, gen
    return (FOUND if gen > 0 else ABSENT), seq, gen


@inline_kernel
def record_is_whole(records, r, key):
    """True when ``read_record`` would say FOUND or ABSENT: the same tests, joined with
    ``&`` rather than a branch each, for the fast path (a record that fails is then
    classified by ``read_record``). The key equals ``key`` (so it is not POISON), the
    checksum matches, and no other word is POISON."""
    # relaxed: ordered after the caller's acquire (lock, RCU dereference, slot load).
    k = A.load_relaxed(records, (r, KEY))
    seq = A.load_relaxed(records, (r, SEQ))
    gen = A.load_relaxed(records, (r, GEN))
    check = A.load_relaxed(records, (r, SUM))
    return ((k == key) & (check == mix(k, seq, gen)) & (seq != POISON) & (gen != POISON)
            & (check != POISON) & (key != POISON))


@inline_kernel
def count_error(errors, tid, outcome):
    """Tally a bad outcome in thread tid's own error row (single writer: relaxed)."""
    col = -1
    if outcome == TORN:
        col = ERR_TORN
    elif outcome == POISONED:
        col = ERR_POISON
    elif outcome == WRONG_KEY:
        col = ERR_WRONG_KEY
    if col >= 0:
        A.store_relaxed(errors, (tid, col), A.load_relaxed(errors, (tid, col)) + 1)


def whole(records: np.ndarray, r: int) -> bool:
    """Python-side check of one record (for final-state checks and tests)."""
    k, seq, gen, check = (int(x) for x in records[r, :RECORD_FIELDS])
    return POISON not in (k, seq, gen, check) and check == int(mix(k, seq, gen))


def error_summary(errors: np.ndarray) -> dict:
    return {"torn_seen": int(errors[:, ERR_TORN].sum()), "poison_seen": int(errors[:, ERR_POISON].sum()),
            "wrong_key_seen": int(errors[:, ERR_WRONG_KEY].sum())}
