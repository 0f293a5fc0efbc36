import numpy as np
import pytest

from kernlab.layout import aligned_zeros, cache_line_size, padded_rows, slot_array


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
