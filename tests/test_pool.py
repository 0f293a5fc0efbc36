"""primitives.pool and primitives.arena on one thread: ids, classes, caches and the
shared list's tag; the threaded stress (tagged passes, untagged caught) is in test_alloc."""
import numba
import numpy as np
import pytest

from kernlab.primitives import arena as AR
from kernlab.primitives import pool as P


@numba.njit
def _pop(heads, links, c, tag_unit):
    return P.shared_pop(heads, links, c, tag_unit, 0)


@numba.njit
def _push(heads, links, c, i, tag_unit):
    P.shared_push(heads, links, c, i, tag_unit)


@numba.njit
def _get_put(heads, links, cache, cache_len, owners, c, batch, rounds, tid=0):
    """Thread tid takes `rounds` buffers, then gives them all back; the ids taken and
    the clashes the pool reported."""
    taken = np.empty(rounds, np.int64)
    clashes = 0
    for i in range(rounds):
        taken[i], k = P.pool_get(heads, links, cache, cache_len, owners, tid, c, batch)
        clashes += k
    for i in range(rounds):
        if taken[i] >= 0:
            clashes += P.pool_put(heads, links, cache, cache_len, owners, tid, c, taken[i])
    return taken, clashes


@numba.njit
def _class_index(n):
    return P.class_index(n)


def test_size_classes_are_powers_of_two_from_16_bytes():
    for n, c in [(1, 0), (16, 0), (17, 1), (64, 2), (65, 3), (4096, 8), (65536, 12)]:
        assert P.class_of(n) == c == _class_index(n)
        assert P.class_bytes(c) >= n


def test_buffers_are_carved_from_one_slab_without_overlap():
    heads, links, addresses, cache, cache_len, slab = P.make_pool([0, 0, 5, 0, 3], threads=1, cache_capacity=4)
    assert list(np.diff(addresses[:5])) == [64] * 4 and list(np.diff(addresses[5:8])) == [256] * 2
    assert addresses[0] % 64 == 0 and addresses[5] == addresses[4] + 64
    assert sorted(P.free_ids(heads, links, cache, cache_len, 2)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("tag_unit", [P.TAG_UNIT, 0])
def test_the_shared_list_is_lifo_and_the_tag_counts_every_change(tag_unit):
    heads, links, *_ = P.make_pool([3], threads=1, cache_capacity=2)
    a, b = _pop(heads, links, 0, tag_unit), _pop(heads, links, 0, tag_unit)
    _push(heads, links, 0, a, tag_unit)
    assert (a, b) == (0, 1) and _pop(heads, links, 0, tag_unit) == a
    assert int(heads[0, 0]) >> 32 == (4 if tag_unit else 0)       # 3 pops + 1 push, or no tag at all
    assert _pop(heads, links, 0, tag_unit) == 2 and _pop(heads, links, 0, tag_unit) == -1


def test_the_untagged_compare_exchange_cannot_tell_a_recycled_head():
    """The ABA history on one thread, step by step: a stale (head, link) pair read
    before pop A, pop B, push A still matches the untagged head word, not the tagged."""
    for tag_unit, fooled in [(0, True), (P.TAG_UNIT, False)]:
        heads, links, *_ = P.make_pool([4], threads=1, cache_capacity=2)
        stale_head = int(heads[0, 0])                  # a stalled pop read head A (id 0) ...
        a, _held = _pop(heads, links, 0, tag_unit), _pop(heads, links, 0, tag_unit)
        _push(heads, links, 0, a, tag_unit)            # ... A is back on top, B is held
        assert (int(heads[0, 0]) == stale_head) is fooled


def test_thread_cache_refills_in_batches_and_flushes_half_when_full():
    heads, links, addresses, cache, cache_len, slab = P.make_pool([16], threads=1, cache_capacity=8)
    owners = np.zeros(len(addresses), np.int64)
    taken, clashes = _get_put(heads, links, cache, cache_len, owners, 0, 4, 10)
    assert len(set(taken.tolist())) == 10 and clashes == 0
    assert sorted(P.free_ids(heads, links, cache, cache_len, 0)) == list(range(16))
    assert 0 < cache_len[0, 0] <= 8
    assert P.misowned(heads, links, cache, cache_len, owners, 0) == 0
    cached = cache[0, 0, :cache_len[0, 0]]
    assert (owners[cached] == 1).all() and (np.delete(owners, cached) == 0).all()   # claimed / released
    owners[cached[0]] = 0                                # an owner word that lies is found
    assert P.misowned(heads, links, cache, cache_len, owners, 0) == 1


def test_a_refill_reports_a_buffer_another_thread_owns():
    """Ownership changes only between threads: a refill claims each id it takes, so an id
    on the shared list that a thread still owns (a double hand-out) is a clash."""
    heads, links, addresses, cache, cache_len, slab = P.make_pool([8], threads=2, cache_capacity=4)
    owners = np.zeros(len(addresses), np.int64)
    owners[0] = 2                                        # thread 1 claims id 0, yet it is on the list
    taken, clashes = _get_put(heads, links, cache, cache_len, owners, 0, 2, 1)
    assert taken[0] in (0, 1) and clashes == 1
    assert P.misowned(heads, links, cache, cache_len, owners, 0) == 0     # thread 0 owns it now


def test_the_pool_is_bounded_a_miss_returns_minus_one():
    heads, links, addresses, cache, cache_len, slab = P.make_pool([3], threads=1, cache_capacity=4)
    owners = np.zeros(len(addresses), np.int64)
    taken, _ = _get_put(heads, links, cache, cache_len, owners, 0, 2, 5)
    assert sorted(taken.tolist()) == [-1, -1, 0, 1, 2]
    assert sorted(P.free_ids(heads, links, cache, cache_len, 0)) == [0, 1, 2]


@numba.njit
def _arena_run(regions, offsets, sizes):
    out = np.empty(len(sizes), np.int64)
    for i in range(len(sizes)):
        out[i] = AR.arena_alloc(regions, offsets, 1, sizes[i])
    AR.arena_reset(offsets, 1)
    return out, AR.arena_alloc(regions, offsets, 1, 8)


def test_arena_bumps_line_aligned_buffers_then_resets():
    regions, offsets = AR.make_arenas(2, 256)
    got, after_reset = _arena_run(regions, offsets, np.array([10, 64, 100, 8], np.int64))
    base = regions.ctypes.data + regions.strides[0]
    assert list(got) == [base, base + 64, base + 128, -1]         # 64 + 64 + 128 bytes fill 256; the 4th misses
    assert after_reset == base
