"""kernlab.layout: the cache-line size, aligned arrays, slots and the one padding
vocabulary (PAD_BYTES, field_offsets, padded_fields, padded_scalar, padded_slots)."""
import numpy as np
import pytest

from kernlab.layout import (
    PAD_BYTES,
    aligned_zeros,
    cache_line_size,
    field_offsets,
    padded_fields,
    padded_rows,
    padded_scalar,
    padded_slots,
    slot_array,
)


def test_cache_line_size_is_a_power_of_two():
    size = cache_line_size()
    assert size >= 16 and size & (size - 1) == 0


@pytest.mark.parametrize("align", [8, 64, 128, 4096])
def test_aligned_zeros(align):
    for n in (1, 3, 17):
        a = aligned_zeros((n, 3), np.int32, align)
        assert a.ctypes.data % align == 0 and a.shape == (n, 3) and not a.any()
        assert a.flags.c_contiguous


def test_aligned_zeros_rejects_bad_alignment():
    with pytest.raises(ValueError, match="power of two"):
        aligned_zeros(4, np.int64, 48)


@pytest.mark.parametrize("stride", [8, 64, 128])
def test_slot_array_stride_in_bytes(stride):
    slots = slot_array(5, stride)
    assert slots.shape == (5, stride // 8)
    addr = [slots[i:, 0].ctypes.data for i in range(5)]
    assert np.diff(addr).tolist() == [stride] * 4
    assert addr[0] % cache_line_size() == 0


def test_slot_array_rejects_partial_elements():
    with pytest.raises(ValueError, match="multiple of 8"):
        slot_array(2, 12)


def test_padded_rows_never_share_a_line_pair():
    rows = padded_rows(3, 5)
    assert (rows.strides[0] % (2 * cache_line_size())) == 0 and rows.shape[1] >= 5


# ----------------------------------------------------------------------------- the padding vocabulary

def _addresses(a, offsets):
    return [a.ctypes.data + o * a.itemsize for o in offsets]


def test_pad_is_a_pair_of_64_byte_lines():
    assert PAD_BYTES == 128     # the adjacent-line prefetcher's pair (see layout's docstring)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint64])
def test_field_offsets_are_one_padded_field_apart(dtype):
    offsets = field_offsets(5, dtype)
    assert offsets[0] == 0 and len(set(offsets)) == 5
    assert [b * np.dtype(dtype).itemsize for b in np.diff(offsets)] == [PAD_BYTES] * 4


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_padded_fields_are_aligned_and_separated(dtype, n):
    fields = padded_fields(n, dtype)
    assert fields.dtype == dtype and not fields.any() and fields.flags.c_contiguous
    assert fields.nbytes == n * PAD_BYTES
    addrs = _addresses(fields, field_offsets(n, dtype))
    assert all(a % PAD_BYTES == 0 for a in addrs)                  # each field starts a line pair
    assert all(b - a == PAD_BYTES for a, b in zip(addrs, addrs[1:]))


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_padded_scalar_owns_a_line_pair(dtype):
    word = padded_scalar(dtype)
    assert word.ctypes.data % PAD_BYTES == 0 and word.nbytes == PAD_BYTES and word[0] == 0


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32])
def test_padded_slots_are_aligned_and_separated(dtype):
    slots = padded_slots(5, dtype)
    assert slots.shape[0] == 5 and slots.strides[0] == PAD_BYTES and not slots.any()
    addrs = [slots[i:, 0].ctypes.data for i in range(5)]
    assert all(a % PAD_BYTES == 0 for a in addrs)
    assert np.diff(addrs).tolist() == [PAD_BYTES] * 4


def test_padded_rows_are_aligned_to_a_line_pair():
    rows = padded_rows(3, 20)
    assert rows.ctypes.data % PAD_BYTES == 0 and rows.strides[0] % PAD_BYTES == 0 and rows.shape[1] >= 20
