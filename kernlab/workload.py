"""Workload generators shared by experiments: skewed key streams, per-thread RNGs and
the one multiplicative hash (which shard, stripe or slot a key lands in).

Keys are drawn *before* the run (numpy, seeded), so a worker's hot loop pays one load
per key instead of a sampler, and two variants compared side by side see the very
same key sequence. ``key_skew`` 0 is uniform; s > 0 is Zipf-like: key k (by rank) is
drawn with probability proportional to 1 / (k + 1)^s, so s = 0.99 makes a few keys hot.
Ranks are scattered over the key space with a fixed permutation, so hot keys are not
also neighbours in memory (which would flatter caches and shard 0).
"""
from __future__ import annotations

import numpy as np

from . import atomics as A
from .jit import inline_kernel, kernel
from .layout import padded_slots

STREAM_LENGTH = 1 << 16   # keys per thread; a stream is replayed cyclically

# 2**64 / golden ratio: Knuth's multiplicative (Fibonacci) hashing constant. Multiplying
# spreads consecutive keys over the high bits, so a shard index takes the *top* bits
# (``fib_hash``); the low bits of the product are as regular as the key's.
FIBONACCI = np.uint64(0x9E3779B97F4A7C15)


@inline_kernel
def fib_hash(key, bits):
    """The top ``bits`` bits of key * FIBONACCI: an index in [0, 2**bits)."""
    return np.int64((np.uint64(key) * FIBONACCI) >> np.uint64(64 - bits))


def key_streams(threads: int, n_keys: int, skew: float = 0.0, length: int = STREAM_LENGTH,
                seed: int = 12345) -> np.ndarray:
    """``(threads, length)`` int64 keys in [0, n_keys); ``length`` a power of two."""
    if length & (length - 1):
        raise ValueError(f"length must be a power of two, got {length}")
    rng = np.random.default_rng(seed)
    if skew <= 0:
        return rng.integers(0, n_keys, size=(threads, length), dtype=np.int64)
    weights = 1.0 / np.arange(1, n_keys + 1, dtype=np.float64) ** skew
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random((threads, length)), side="right")
    scatter = np.random.default_rng(seed + 1).permutation(n_keys)
    return scatter[np.minimum(ranks, n_keys - 1)].astype(np.int64)


@inline_kernel   # on every op of the table experiments
def next_key(streams, tid, n):
    """The n-th key of thread tid's stream (cyclic)."""
    return streams[tid, n & (streams.shape[1] - 1)]


def rng_states(threads: int, seed: int = 2024) -> np.ndarray:
    """Per-thread xorshift64* states, one per cache-line pair (no false sharing)."""
    states = padded_slots(threads, np.uint64)
    states[:, 0] = np.random.default_rng(seed).integers(1, 2**63, size=threads, dtype=np.uint64)
    return states


@inline_kernel   # on measured paths: a call would cost more than the generator
def rng_next(states, tid):
    """Next 64-bit value of thread tid's xorshift64* generator (Vigna 2016).
    Only thread tid touches its state: plain (relaxed) accesses suffice."""
    x = A.load_relaxed(states, (tid, 0))
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    A.store_relaxed(states, (tid, 0), x)
    return x * np.uint64(0x2545F4914F6CDD1D)


@inline_kernel
def chance(states, tid, threshold):
    """True with probability threshold / 2**53 (use ``probability_threshold``)."""
    return np.int64(rng_next(states, tid) >> np.uint64(11)) < threshold


@inline_kernel
def chance_at(states, tid, n, threshold):
    """``chance`` for thread tid's n-th op, counter-based (SplitMix64 of the thread's
    seed + n x the golden gamma): nothing is written, so consecutive ops share no
    chain through memory. ``chance`` stores its state every call, and the next op's
    draw waits for that store to be forwarded: a serial chain of ~10 cycles per op,
    which a lookup of a few ns cannot hide."""
    x = A.load_relaxed(states, (tid, 0)) + np.uint64(n) * np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return np.int64(x >> np.uint64(11)) < threshold


SCHEDULE = 1                    # column of a thread's rng row: 1 + op index of its next event (0: none drawn)
TWO_53 = float(1 << 53)


@inline_kernel
def event_at(states, tid, n, threshold):
    """``chance_at`` for ops numbered 0, 1, 2 ... by each thread (the harness's ``n``).
    A rare event (probability below 1/GAPS_FROM) is drawn as the gap to the next one
    (geometric: the same Bernoulli process), so an ordinary op only compares ``n`` with
    the scheduled index: one load, no hash, no store; a draw happens once per event.
    The schedule is tested first: it stays 0 for a frequent event (never drawn), which
    then takes ``chance_at``; threshold 0 draws a gap of 2**61 at the first op."""
    # plain load: only thread tid touches its row
    if np.int64(states[tid, SCHEDULE]) > n + 1:
        return False
    if threshold >= GAPS_BELOW:
        return chance_at(states, tid, n, threshold)
    return _event_due(states, tid, n, threshold)


@kernel   # once per event (and at a thread's first op)
def _event_due(states, tid, n, threshold):
    due = np.int64(states[tid, SCHEDULE])
    if due == 0:                         # the thread's first op: the first gap counts from here
        due = n + 1 + _gap(states, tid, threshold)
    now = due <= n + 1                   # due now (or passed over by a caller skipping indices)
    if now:
        due = n + 2 + _gap(states, tid, threshold)
    states[tid, SCHEDULE] = np.uint64(due)
    return now


@inline_kernel
def _gap(states, tid, threshold):
    """Failures before the next success of Bernoulli(threshold / 2**53) trials."""
    if threshold <= 0:
        return np.int64(1) << np.int64(61)
    u = (np.float64(rng_next(states, tid) >> np.uint64(11)) + 1.0) / TWO_53     # (0, 1]
    return np.int64(min(np.floor(np.log(u) / np.log1p(-threshold / TWO_53)), 2.0**61))


def probability_threshold(p: float) -> int:
    """Integer threshold for ``chance``: compare 53 random bits against it."""
    return int(round(min(max(p, 0.0), 1.0) * (1 << 53)))


GAPS_FROM = 64
GAPS_BELOW = probability_threshold(1 / GAPS_FROM)   # event_at draws gaps below this threshold
