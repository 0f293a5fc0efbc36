"""A request arena: bump allocation, everything freed at once when the request ends.

Algorithm
    Each thread owns one contiguous region of ``arena_bytes`` (its own slab row) and a
    bump offset. ``arena_alloc`` rounds the request up to ``ARENA_ALIGN`` bytes, hands
    out the bytes at the offset and moves the offset past them; ``arena_reset`` sets the
    offset back to 0 when the request is done. No per-buffer header, no free call, no
    search: an allocation is an add and a compare (Hanson, "Fast allocation and
    deallocation of memory based on object lifetimes", 1990; Apache's and nginx's pools).
    When a request outgrows its region, ``arena_alloc`` returns -1 and the caller falls
    back to ``malloc`` (counted as an allocator call).

Invariants
    ``0 <= offset <= arena_bytes``; buffers handed out since the last reset never
    overlap; after a reset none of them may be used (the caller's request is over).

Memory ordering
    None: a region and its offset belong to one thread (plain accesses). Threads share
    nothing, which is the point.

Progress guarantee
    Wait-free, O(1) per allocation and per reset.

References
    D. R. Hanson, "Fast allocation and deallocation of memory based on object
    lifetimes", Software: Practice and Experience 20(1), 1990; nginx ``ngx_palloc``.
"""
import numpy as np

from ..jit import inline_kernel
from ..layout import aligned_zeros, padded_slots

ARENA_ALIGN = 64          # every buffer starts on its own cache line


def make_arenas(threads: int, arena_bytes: int):
    """``(regions, offsets)``: one ``arena_bytes`` region per thread (a row of int64
    words, whole cache lines, aligned) and one padded bump offset per thread."""
    words = -(-arena_bytes // ARENA_ALIGN) * ARENA_ALIGN // 8
    return aligned_zeros((threads, words), np.int64), padded_slots(threads)


@inline_kernel
def arena_next(regions, at, nbytes):
    """The offset after ``nbytes`` allocated at offset ``at`` (rounded up to whole
    ARENA_ALIGN lines), or -1 if they do not fit in the region."""
    end = at + ((nbytes + ARENA_ALIGN - 1) // ARENA_ALIGN) * ARENA_ALIGN
    return end if end <= regions.shape[1] * 8 else np.int64(-1)


@inline_kernel
def arena_base(regions, tid):
    """Address of thread ``tid``'s region (offset 0)."""
    return regions.ctypes.data + tid * regions.strides[0]


@inline_kernel
def arena_alloc(regions, offsets, tid, nbytes):
    """Address of ``nbytes`` fresh bytes from thread ``tid``'s arena, or -1 if full."""
    at = offsets[tid, 0]
    end = arena_next(regions, at, nbytes)
    if end < 0:
        return np.int64(-1)
    offsets[tid, 0] = end
    return arena_base(regions, tid) + at


@inline_kernel
def arena_reset(offsets, tid):
    """The request is over: all of its buffers are free at once."""
    offsets[tid, 0] = 0
