"""kernlab.workload: key streams, per-thread RNGs, the one multiplicative hash."""
import numpy as np
from numba import njit

from kernlab.workload import (
    FIBONACCI,
    GAPS_BELOW,
    chance,
    chance_at,
    event_at,
    fib_hash,
    key_streams,
    next_key,
    probability_threshold,
    rng_next,
    rng_states,
)


def test_uniform_and_zipf_streams():
    uni = key_streams(2, 1000, 0.0, length=1 << 14)
    assert uni.shape == (2, 1 << 14) and uni.min() >= 0 and uni.max() < 1000
    assert np.bincount(uni.ravel(), minlength=1000).max() < 100  # nothing very hot
    hot = key_streams(2, 1000, 1.2, length=1 << 14)
    counts = np.sort(np.bincount(hot.ravel(), minlength=1000))[::-1]
    assert counts[:10].sum() > 0.4 * hot.size  # a few keys dominate
    assert np.array_equal(hot, key_streams(2, 1000, 1.2, length=1 << 14))  # seeded: same for every variant


def test_next_key_cycles():
    s = np.arange(8, dtype=np.int64).reshape(2, 4)
    assert [next_key(s, 1, n) for n in range(6)] == [4, 5, 6, 7, 4, 5]


def test_rng_and_chance_frequency():
    states = rng_states(2)
    draw = njit(lambda st, t, k: [rng_next(st, t) for _ in range(k)])
    a, b = draw(states, 0, 1000), draw(states, 1, 1000)
    assert len(set(a)) == 1000 and set(a).isdisjoint(b)
    count = njit(lambda st, thr, k: sum([1 for _ in range(k) if chance(st, 0, thr)]))
    hits = count(states, probability_threshold(0.1), 100_000)
    assert 9_000 < hits < 11_000
    assert count(states, probability_threshold(0.0), 1000) == 0
    assert count(states, probability_threshold(1.0), 1000) == 1000


def test_counter_based_chance_frequency_and_threads_apart():
    """chance_at(n) draws from (seed, n) alone: the rate holds, a thread's draws do not
    repeat those of another, and nothing is written (the state is only a seed)."""
    states = rng_states(2)
    before = states.copy()
    count = njit(lambda st, t, thr, k: sum([1 for n in range(k) if chance_at(st, t, n, thr)]))
    hits = [count(states, t, probability_threshold(0.1), 100_000) for t in (0, 1)]
    assert all(9_000 < h < 11_000 for h in hits)
    assert count(states, 0, probability_threshold(0.0), 1000) == 0
    assert count(states, 0, probability_threshold(1.0), 1000) == 1000
    which = njit(lambda st, t, thr, k: [n for n in range(k) if chance_at(st, t, n, thr)])
    half = probability_threshold(0.5)
    assert set(which(states, 0, half, 256)) != set(which(states, 1, half, 256))
    assert (states == before).all()


def test_scheduled_events_keep_the_rate_below_and_above_the_gap_limit():
    """event_at draws rare events as geometric gaps (a different code path from the
    hash above GAPS_BELOW): the rate is the probability either way, per thread."""
    count = njit(lambda st, t, thr, k: sum([1 for n in range(k) if event_at(st, t, n, thr)]))
    for p, ops in ((1e-3, 2_000_000), (0.2, 100_000)):
        assert (probability_threshold(p) < GAPS_BELOW) == (p < 1 / 64)
        for t in (0, 1):
            hits = count(rng_states(2, seed=t + 7), t, probability_threshold(p), ops)
            assert abs(hits - p * ops) < 5 * (p * ops) ** 0.5, (p, t, hits)
    assert count(rng_states(1), 0, 0, 10_000) == 0
    assert count(rng_states(1), 0, probability_threshold(1.0), 1000) == 1000


def test_the_first_op_can_be_an_event_and_a_skipped_index_still_fires():
    first = njit(lambda st, thr: event_at(st, 0, 0, thr))
    p = probability_threshold(0.01)
    assert 50 < sum(first(rng_states(1, seed=s), p) for s in range(1, 10_001)) < 150     # about 1 in 100
    states = rng_states(1)
    fire = njit(lambda st, n, thr: event_at(st, 0, n, thr))
    fire(states, 0, p)
    due = int(states[0, 1]) - 1                        # the scheduled op
    assert fire(states, due + 5, p)                    # called past it: fires then, and reschedules
    assert int(states[0, 1]) - 1 > due + 5


def test_fib_hash_takes_the_top_bits_of_the_golden_product():
    assert FIBONACCI == np.uint64(0x9E3779B97F4A7C15)
    keys = np.arange(4096, dtype=np.uint64)
    for bits in (1, 3, 10):
        expect = ((keys * FIBONACCI) >> np.uint64(64 - bits)).astype(np.int64)
        got = np.array([fib_hash(int(k), bits) for k in keys])
        assert (got == expect).all() and got.min() >= 0 and got.max() < 1 << bits
        # consecutive keys spread evenly over the buckets (the low bits of k * C would not)
        counts = np.bincount(got, minlength=1 << bits)
        mean = len(keys) / (1 << bits)
        assert counts.min() >= 0.4 * mean and counts.max() <= 2 * mean, (bits, counts.min(), counts.max())
