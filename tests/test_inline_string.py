"""primitives.inline_string on one thread: the slot layout for every length, heap and
interned text, and the off-by-one store that writes over the neighbour."""
import numba
import numpy as np

from kernlab.experiments._messages import message_arrays
from kernlab.primitives import inline_string as S


@numba.njit
def _store_and_sum(slots, text, offsets, lengths, sums, how):
    addr = slots.ctypes.data
    bad = 0
    for m in range(len(lengths)):
        at, n = offsets[m], lengths[m]
        if how == 0 or n > S.INLINE_CAPACITY + (how == 2):
            S.store_heap(addr, 0, text, at, n)
        elif how == 1:
            S.store_inline(addr, 0, text, at, n)
        elif how == 2:
            S.store_inline_overflow(addr, 0, text, at, n)
        else:
            S.store_interned(addr, 0, m, n)
        total = S.overflow_sum(addr, 0) if how == 2 and n == 24 else S.text_sum(addr, 0, text, offsets)
        if total != sums[m]:
            bad += 1
        if S.tag_of(addr, 0) == S.HEAP_TAG:
            S.release_heap(addr, 0)
    return bad


def test_every_message_reads_back_from_each_layout():
    text, offsets, lengths, sums = message_arrays("all")
    for how in range(4):
        slots = np.zeros(9, np.int64)
        assert _store_and_sum(slots, text, offsets, lengths, sums, how) == 0


def test_inline_keeps_the_length_in_the_last_byte_and_never_touches_the_neighbour():
    text, offsets, lengths, sums = message_arrays("strerror")
    short = [m for m in range(len(lengths)) if lengths[m] <= 23]
    slots = np.zeros(6, np.int64)
    slots[3] = 0x1111
    _store_and_sum(slots, text, offsets[short], lengths[short], sums[short], 1)
    assert slots[2] >> 56 == lengths[short][-1] and slots[3] == 0x1111


def test_the_off_by_one_writes_a_24_byte_length_over_the_neighbour():
    text, offsets, lengths, sums = message_arrays("strerror")
    exactly_24 = [m for m in range(len(lengths)) if lengths[m] == 24]
    assert exactly_24, "this C library has no 24-byte strerror message"
    slots = np.zeros(6, np.int64)
    slots[3] = 0x1111
    _store_and_sum(slots, text, offsets[exactly_24], lengths[exactly_24], sums[exactly_24], 2)
    assert slots[3] & 0xFF == 24                     # the neighbour's first byte is now the length
