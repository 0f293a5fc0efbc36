"""Memory layout: the cache-line size, cache-line-aligned numpy arrays, padded slots.

Two threads that write to different words of the same cache line still fight over the
line: the coherence protocol moves whole lines, so every write by one core invalidates
the other core's copy ("false sharing"). Giving each thread its own line removes the
fight. On x86 the L2 "adjacent line" prefetcher fetches lines in 128-byte pairs, which
is why crossbeam pads to 128 bytes there; this module lets you choose the stride and
measure which one your machine needs.
"""
from __future__ import annotations

import os

import numpy as np

FALLBACK_LINE_BYTES = 64

# The one padding vocabulary. A *padded field* is PAD_BYTES wide: a pair of 64-byte lines,
# because the L2 "adjacent line" prefetcher of Intel cores (and AMD's comparable one)
# fetches lines in aligned 128-byte pairs, so two hot words one line apart still
# interfere (crossbeam's CachePadded uses 128 on x86-64 for the same reason). Every
# shared word that threads write and others poll gets a padded field of its own.
PAD_BYTES = 128


def cache_line_size() -> int:
    """The L1 data cache's coherency line size in bytes (sysfs, sysconf, else 64)."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size") as f:
            size = int(f.read().strip())
        if size > 0:
            return size
    except (OSError, ValueError):
        pass
    try:
        size = os.sysconf("SC_LEVEL1_DCACHE_LINESIZE")
        if size and size > 0:
            return int(size)
    except (ValueError, OSError, AttributeError):
        pass
    return FALLBACK_LINE_BYTES


def aligned_zeros(shape, dtype=np.int64, align: int | None = None) -> np.ndarray:
    """A zeroed C-contiguous array whose first element starts on an ``align``-byte
    boundary (default: one cache line)."""
    align = align or cache_line_size()
    if align & (align - 1):
        raise ValueError(f"align must be a power of two, got {align}")
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.zeros(count * dtype.itemsize + align, dtype=np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


def slot_array(nslots: int, stride_bytes: int, dtype=np.int64) -> np.ndarray:
    """Per-thread slots ``stride_bytes`` apart, as an aligned ``(nslots, stride)`` array.

    Slot ``i`` is ``array[i, 0]``; the rest of each row is padding. A stride of 8 packs
    eight int64 slots into one 64-byte line (false sharing); a stride of one cache
    line gives every slot a line of its own. The stride lives in the shape, so
    kernels index ``(i, 0)`` without loading the stride from memory.
    """
    itemsize = np.dtype(dtype).itemsize
    if stride_bytes < itemsize or stride_bytes % itemsize:
        raise ValueError(f"stride_bytes must be a positive multiple of {itemsize}, got {stride_bytes}")
    # Strides that are whole padded fields start on a pair boundary, so no slot straddles two pairs.
    align = PAD_BYTES if stride_bytes % PAD_BYTES == 0 else None
    return aligned_zeros((nslots, stride_bytes // itemsize), dtype, align=align)


def pad_words(dtype=np.int64) -> int:
    """Elements of ``dtype`` per padded field (16 int64, 32 int32)."""
    return PAD_BYTES // np.dtype(dtype).itemsize


def field_offsets(n: int, dtype=np.int64) -> tuple[int, ...]:
    """Element offsets of ``n`` padded fields laid out one after another:
    ``START, STOP = field_offsets(2)`` gives two flags that never share a line pair."""
    return tuple(i * pad_words(dtype) for i in range(n))


def padded_fields(n: int, dtype=np.int64) -> np.ndarray:
    """A zeroed array of ``n`` padded fields (index them with ``field_offsets``)."""
    return aligned_zeros(n * pad_words(dtype), dtype, align=PAD_BYTES)


def padded_scalar(dtype=np.int64) -> np.ndarray:
    """One padded field: a word (element 0) alone on its line pair, e.g. a lock word."""
    return padded_fields(1, dtype)


def padded_slots(nslots: int, dtype=np.int64) -> np.ndarray:
    """Per-thread slots one padded field apart: slot ``i`` is ``array[i, 0]``."""
    return slot_array(nslots, PAD_BYTES, dtype)


def padded_rows(nrows: int, ncols: int, dtype=np.int64) -> np.ndarray:
    """A 2-D aligned array whose rows are padded to whole pairs of cache lines, so that
    per-thread rows never share a line (nor an adjacent-line prefetch pair)."""
    itemsize = np.dtype(dtype).itemsize
    pad = max(PAD_BYTES, 2 * cache_line_size())
    row_bytes = -(-ncols * itemsize // pad) * pad
    return aligned_zeros((nrows, row_bytes // itemsize), dtype, align=PAD_BYTES)
