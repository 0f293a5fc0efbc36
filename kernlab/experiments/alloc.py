"""The `alloc` experiment: where a syscall's result buffer comes from (the catalogue's
patterns 8, 9 and 12, and "the fastest allocation is no allocation"). This module is
longer than 350 lines because each source's path is written out on its own: one generic
op branching on the source made numba's inliner take ~30 s per worker.

One op = one simulated syscall result: obtain a buffer of the op's size (``size``, or a
``syscall_mix`` of small, medium and large results drawn before the run), write the
result into it (every cache line: an owner stamp, then a checksum word), and give it
back, at once (``live`` 0) or after ``live`` later ops (FIFO or random order: buffers
outstanding, as in a server with requests in flight). The variants differ only in where
the buffer comes from:

    malloc     the C library's malloc/free (whichever allocator the process loaded:
               ``allocator`` swaps in jemalloc, mimalloc or tcmalloc by LD_PRELOAD in a
               child process)
    numpy      ``np.empty`` in the kernel: numba's reference-counted runtime allocation
               (malloc underneath), what a numba user writes naturally; ``live`` n/a
    pool       size-classed pool: per-thread caches over a shared lock-free list
               (primitives.pool); a miss falls back to malloc
    pool_shared  the pool without thread caches: every op pops and pushes the shared
               tagged list (with ``aba_window`` pauses inside each pop, as pool_aba)
    pool_aba   broken on purpose: pool_shared with an untagged head (the ABA problem)
    arena      bump allocation from a per-thread region, reset every ``request_ops`` ops
               (buffers live until their request ends; ``live`` n/a)
    stack      one fixed per-thread buffer: no allocation at all (the ceiling)

pool_shared and pool_aba take two buffers per op (a result and its header, say) and give
the first back before the second: the pattern that lets a stalled pop's stale view of the
head come true again (A popped, B popped, A pushed back) and turns an untagged CAS
into a double hand-out.

Check: every buffer's words are verified when it is given back (owner stamp and
checksum), an arena's when its request ends (the request is replayed to find them:
neither the arena nor the op keeps a record of them, so the check costs the arena no
more than the others). A pool buffer's owner word changes where a buffer can reach a
second thread: pool_shared stamps it on every pop (an exchange that must find it free)
and clears it on every push; pool's thread caches are claimed and released by refill
and flush (primitives.pool), so a buffer handed to two threads is seen either way, and
one handed to two holders inside a thread shows in its contents. Obtained = released,
malloc = free calls, and after the run every pool buffer is free exactly once, with an
owner word that says where it is. Metrics: ``allocs_per_op`` (calls into the allocator,
counted in the op), ``bytes_per_op``, ``hit_rate`` (of the buffers a pool, an arena or
the stack was asked for, the share served without the allocator: obtained minus malloc
calls, over that plus the misses), ``rss_growth_per_live_byte`` (fragmentation) and the
runner's latency percentiles.
"""
import numpy as np

from .. import atomics as A
from ..declaration import Experiment, Variant
from ..jit import inline_kernel, kernel
from ..layout import aligned_zeros, padded_rows
from ..primitives import arena as AR
from ..primitives import pool as P
from ..workload import rng_states
from . import _alloc_support as S
from ._alloc_claims import CLAIMS  # noqa: F401  (the registry reads it here)
from ._alloc_support import (
    ADDR,
    ALLOC_CALLS,
    BATCH,
    BYTES,
    CORRUPT,
    DOUBLE,
    DRAINED,
    DRAINED_HEAP,
    FREE_CALLS,
    HEAP,
    HELD_N,
    ID,
    LIVE,
    MISSES,
    OBTAINED,
    RANDOM_RELEASE,
    RELEASED,
    REQUEST_DONE,
    REQUEST_OPS,
    SIZE,
    STAMP,
    STREAM,
    WINDOW,
)


@inline_kernel
def _stamp(tid, n):
    return ((tid + 1) << 40) | (n & ((np.int64(1) << 40) - 1))


# Helpers take the arrays they use (never `state`: see jit on inlining costs) and are
# written per source, so each variant's worker inlines only its own path.

@inline_kernel
def _take(owner, stats, tid, buffer_id, stamp):
    """The owner word of a pool buffer must have been free: a buffer handed to two
    holders at once shows here. relaxed: the pop's acquire already ordered the buffer."""
    if A.exchange_relaxed(owner, buffer_id, stamp) != 0:
        stats[tid, DOUBLE] += 1


@inline_kernel
def _untake(owner, stats, tid, buffer_id, stamp):
    # relaxed: the push's release publishes it. Fails if someone else took it meanwhile.
    if not A.cas_relaxed(owner, buffer_id, stamp, 0):
        stats[tid, DOUBLE] += 1


@inline_kernel
def _fresh(stats, tid, addr, nbytes, stamp):
    """Write the syscall's result: a word in every cache line, then a checksum word."""
    words = nbytes >> 3
    A.store_word_relaxed(addr, 0, stamp)          # the first line (a buffer has >= 16 bytes) ...
    for w in range(8, words, 8):                  # ... then the rest: nothing to loop at <= 64 bytes
        A.store_word_relaxed(addr, w, stamp + w)
    A.store_word_relaxed(addr, words - 1, stamp ^ nbytes)
    stats[tid, OBTAINED] += 1
    stats[tid, BYTES] += nbytes


@inline_kernel
def _verify(stats, tid, addr, nbytes, stamp):
    """The buffer comes back: every word we wrote must still be ours."""
    words = nbytes >> 3
    ok = (A.load_word_relaxed(addr, words - 1) == (stamp ^ nbytes)) & (A.load_word_relaxed(addr, 0) == stamp)
    for w in range(8, words - 1, 8):
        ok &= A.load_word_relaxed(addr, w) == stamp + w
    if not ok:
        stats[tid, CORRUPT] += 1
    stats[tid, RELEASED] += 1


@inline_kernel
def _heap_get(stats, tid, nbytes):
    stats[tid, ALLOC_CALLS] += 1
    return A.c_malloc(nbytes)


@inline_kernel
def _heap_put(stats, tid, addr):
    stats[tid, FREE_CALLS] += 1
    A.c_free(addr)


@kernel   # live > 0 only (fragmentation runs): malloc and pool pay this same call
def _settle(held, stats, owner, heads, links, cache, cache_len, tid, keep, random_order, rng):
    """Give back outstanding buffers until ``keep`` remain (oldest first, or random)."""
    while stats[tid, HELD_N] > keep:
        k = S.unhold_random(held, stats, tid, rng) if random_order else S.unhold_oldest(held, stats, tid)
        addr, stamp, nbytes, got = held[tid, k, ADDR], held[tid, k, STAMP], held[tid, k, SIZE], held[tid, k, ID]
        _verify(stats, tid, addr, nbytes, stamp)
        if got == HEAP:
            _heap_put(stats, tid, addr)
        elif got >= 0:
            stats[tid, DOUBLE] += P.pool_put(heads, links, cache, cache_len, owner, tid, P.class_index(nbytes), got)


@inline_kernel
def op_malloc(ctl, state, tid, n):
    sizes, stats, held, cfg = state[0], state[2], state[3], state[4]
    nbytes, stamp = sizes[tid, n & (STREAM - 1)], _stamp(tid, n)
    addr = _heap_get(stats, tid, nbytes)
    _fresh(stats, tid, addr, nbytes, stamp)
    if cfg[LIVE] == 0:
        _verify(stats, tid, addr, nbytes, stamp)
        _heap_put(stats, tid, addr)
    else:
        S.hold(held, stats, tid, addr, stamp, nbytes, HEAP)
        _settle(held, stats, state[12], state[6], state[7], state[9], state[10], tid, cfg[LIVE],
                cfg[RANDOM_RELEASE], state[5])
    return 0


@inline_kernel
def op_pool(ctl, state, tid, n):
    sizes, classes, stats, held, cfg = state[0], state[1], state[2], state[3], state[4]
    heads, links, addresses, cache, cache_len, owner = state[6], state[7], state[8], state[9], state[10], state[12]
    i = n & (STREAM - 1)
    nbytes, c, stamp = sizes[tid, i], np.uint64(classes[tid, i]), _stamp(tid, n)
    # the thread's cache is its own: ownership is checked where buffers cross between threads
    # (refill and flush, in primitives.pool); inside the thread, by each buffer's contents
    got, clashes = P.pool_get(heads, links, cache, cache_len, owner, tid, c, cfg[BATCH])
    if got >= 0:                       # a hit: counted as obtained minus malloc calls (no count of its own)
        addr = addresses[got]
    else:
        stats[tid, MISSES] += 1
        addr = _heap_get(stats, tid, nbytes)
    _fresh(stats, tid, addr, nbytes, stamp)
    if cfg[LIVE] == 0:
        _verify(stats, tid, addr, nbytes, stamp)
        if got >= 0:
            clashes += P.pool_put(heads, links, cache, cache_len, owner, tid, c, got)
        else:
            _heap_put(stats, tid, addr)
    else:
        S.hold(held, stats, tid, addr, stamp, nbytes, got if got >= 0 else HEAP)
        _settle(held, stats, owner, heads, links, cache, cache_len, tid, cfg[LIVE], cfg[RANDOM_RELEASE], state[5])
    if clashes != 0:                   # a refill or flush found a buffer another thread owned
        stats[tid, DOUBLE] += clashes
    return 0


@inline_kernel
def _shared_op(state, tid, n, tag_unit):
    """Two buffers per op (a result and its header): pop A (with `aba_window` pauses
    inside the pop's race window), pop B, push A, pause `aba_window` (the header being
    filled), push B. Pop A, pop B, push A while B is held is exactly the history that a
    stalled pop of A must not mistake for "nothing changed"."""
    sizes, classes, stats, cfg = state[0], state[1], state[2], state[4]
    heads, links, addresses, owner = state[6], state[7], state[8], state[12]
    i = n & (STREAM - 1)
    nbytes, c, stamp = sizes[tid, i], classes[tid, i], _stamp(tid, n)
    held = state[3]                    # rows 0 and 1: this op's two buffer ids (no `live` here)
    for k in range(2):
        got = P.shared_pop(heads, links, c, tag_unit, cfg[WINDOW] if k == 0 else 0)
        held[tid, k, ID] = got
        if got >= 0:
            _take(owner, stats, tid, got, stamp | (k << 62))
            _fresh(stats, tid, addresses[got], nbytes, stamp | (k << 62))
        else:                          # cannot happen with a sound list (>= 8 buffers, 2 per thread)
            stats[tid, MISSES] += 1
    for k in range(2):
        got = held[tid, k, ID]
        if got >= 0:
            _verify(stats, tid, addresses[got], nbytes, stamp | (k << 62))
            _untake(owner, stats, tid, got, stamp | (k << 62))
            P.shared_push(heads, links, c, got, tag_unit)
        if k == 0:
            for _ in range(cfg[WINDOW]):
                A.cpu_relax()
    return 0


@inline_kernel
def op_pool_shared(ctl, state, tid, n):
    return _shared_op(state, tid, n, P.TAG_UNIT)


@inline_kernel
def op_pool_aba(ctl, state, tid, n):
    return _shared_op(state, tid, n, 0)


@inline_kernel   # once per request (1 op in request_ops); a call would pass ~30 words of arrays
def _end_request(sizes, regions, offsets, held, stats, tid, first, count):
    """Ops ``first .. first+count-1`` made up the request, which is over: verify each of
    its buffers, free the heap fallbacks, reset the arena.

    The arena keeps no record of its buffers (that is the point), and neither does the
    op: the check replays the request instead. The sizes stream and the stamps are
    functions of the op index, and bump allocation is deterministic, so the replay finds
    every buffer where ``arena_alloc`` put it, at the cost of the verification alone, as
    the other variants pay it. Only the heap fallbacks (the request outgrew the region)
    are held, in order. A replay that does not end at the arena's real offset means the
    arena and the replay disagree: counted as corrupt."""
    base, at = AR.arena_base(regions, tid), np.int64(0)
    for m in range(first, first + count):
        nbytes, stamp = sizes[tid, m & (STREAM - 1)], _stamp(tid, m)
        end = AR.arena_next(regions, at, nbytes)
        if end < 0:                    # did not fit: it came from malloc (held, oldest first)
            if stats[tid, HELD_N] == 0:        # nothing held: the replay and the arena disagree
                stats[tid, CORRUPT] += 1
                continue
            addr = held[tid, S.unhold_oldest(held, stats, tid), ADDR]
            _verify(stats, tid, addr, nbytes, stamp)
            _heap_put(stats, tid, addr)
        else:
            _verify(stats, tid, base + at, nbytes, stamp)
            at = end
    if at != offsets[tid, 0]:
        stats[tid, CORRUPT] += 1
    AR.arena_reset(offsets, tid)


@inline_kernel
def op_arena(ctl, state, tid, n):
    sizes, stats, held, cfg, regions, offsets = state[0], state[2], state[3], state[4], state[13], state[14]
    nbytes, stamp = sizes[tid, n & (STREAM - 1)], _stamp(tid, n)
    addr = AR.arena_alloc(regions, offsets, tid, nbytes)
    if addr < 0:                                    # the request outgrew its region
        stats[tid, MISSES] += 1
        addr = _heap_get(stats, tid, nbytes)
        S.hold(held, stats, tid, addr, stamp, nbytes, HEAP)
    _fresh(stats, tid, addr, nbytes, stamp)
    done = stats[tid, REQUEST_DONE] + 1
    if done == cfg[REQUEST_OPS]:                    # the request's last op (a count, not a division)
        _end_request(sizes, regions, offsets, held, stats, tid, n + 1 - done, done)
        done = 0
    stats[tid, REQUEST_DONE] = done
    return 0


@kernel(_nrt=True)   # numba's runtime allocation needs the NRT; the rest of kernlab runs without it
def _numpy_result(nbytes, stamp):
    buf = np.empty(nbytes >> 3, np.int64)
    words = nbytes >> 3
    for w in range(0, words, 8):
        buf[w] = stamp + w
    buf[words - 1] = stamp ^ nbytes
    ok = buf[words - 1] == (stamp ^ nbytes)
    for w in range(0, words - 1, 8):
        ok &= buf[w] == stamp + w
    return ok


@inline_kernel
def op_numpy(ctl, state, tid, n):
    sizes, stats = state[0], state[2]
    nbytes = sizes[tid, n & (STREAM - 1)]
    if not _numpy_result(nbytes, _stamp(tid, n)):
        stats[tid, CORRUPT] += 1
    stats[tid, ALLOC_CALLS] += 1      # np.empty: one malloc, and one free when the array dies
    stats[tid, FREE_CALLS] += 1
    stats[tid, OBTAINED] += 1
    stats[tid, RELEASED] += 1
    stats[tid, BYTES] += nbytes
    return 0


@inline_kernel
def op_stack(ctl, state, tid, n):
    sizes, stats, stack = state[0], state[2], state[15]
    nbytes, stamp = sizes[tid, n & (STREAM - 1)], _stamp(tid, n)
    addr = stack.ctypes.data + tid * stack.strides[0]
    _fresh(stats, tid, addr, nbytes, stamp)
    _verify(stats, tid, addr, nbytes, stamp)
    return 0


@kernel
def _drain(sizes, regions, offsets, held, stats, owner, heads, links, tid, ops):
    """After the run (one thread, which made ``ops`` ops): give back every buffer still
    held, counted apart: the arena's unfinished request is replayed and ended, pool
    buffers go to the shared list."""
    before_released, before_frees = stats[tid, RELEASED], stats[tid, FREE_CALLS]
    done = stats[tid, REQUEST_DONE]
    if done > 0:
        _end_request(sizes, regions, offsets, held, stats, tid, ops - done, done)
        stats[tid, REQUEST_DONE] = 0
    while stats[tid, HELD_N] > 0:
        k = S.unhold_oldest(held, stats, tid)
        addr, stamp, nbytes, got = held[tid, k, ADDR], held[tid, k, STAMP], held[tid, k, SIZE], held[tid, k, ID]
        _verify(stats, tid, addr, nbytes, stamp)
        if got == HEAP:
            _heap_put(stats, tid, addr)
        elif got >= 0:                 # a pool buffer in our hands: ours (tid + 1) until it is on the list
            _untake(owner, stats, tid, got, tid + 1)
            P.shared_push(heads, links, P.class_index(nbytes), got, P.TAG_UNIT)
    stats[tid, DRAINED] += stats[tid, RELEASED] - before_released
    stats[tid, DRAINED_HEAP] += stats[tid, FREE_CALLS] - before_frees
    stats[tid, RELEASED] = before_released
    stats[tid, FREE_CALLS] = before_frees


def setup(threads, params):
    sizes = S.size_streams(threads, params, STREAM)
    classes = np.vectorize(P.class_of)(sizes).astype(np.int64)
    stats = padded_rows(threads, 16)
    ring = 1 << (max(params["live"], params["request_ops"]) + 2 - 1).bit_length()   # a power of two
    held = np.zeros((threads, ring, 4), np.int64)
    cfg = np.array([params["live"], params["release"] == "random", params["request_ops"],
                    max(params["thread_cache"] // 2, 1), params["aba_window"]], np.int64)
    used = np.bincount(classes.ravel(), minlength=P.CLASSES)
    counts = [min(params["pool_buffers"], max(S.POOL_CLASS_BYTES // P.class_bytes(c), 8)) if used[c] else 0
              for c in range(P.CLASSES)]
    heads, links, addresses, cache, cache_len, slab = P.make_pool(counts, threads, params["thread_cache"])
    owner = np.zeros(len(addresses), np.int64)
    # A region holds a whole request, up to ARENA_BYTES a thread: bigger requests spill to malloc (counted).
    regions, offsets = AR.make_arenas(threads, min(params["request_ops"] * (int(sizes.max()) + AR.ARENA_ALIGN),
                                                   S.ARENA_BYTES))
    stack = aligned_zeros((threads, -(-int(sizes.max()) // 128) * 16), np.int64)
    rss = np.array([S.rss_bytes(), 0, 0], np.int64)
    return (sizes, classes, stats, held, cfg, rng_states(threads), heads, links, addresses, cache, cache_len,
            slab, owner, regions, offsets, stack, rss, np.array(counts, np.int64))


def check(state, per_thread_ops, params):
    return S.check_and_drain(state, lambda t: _drain(state[0], state[13], state[14], state[3], state[2], state[12],
                                                     state[6], state[7], t, int(per_thread_ops[t])))


EXPERIMENT = Experiment(
    name="alloc",
    title="Where result buffers come from: malloc, numpy, pools, arenas, the stack and allocator swap",
    help="Each op obtains a buffer for a syscall's result, writes every cache line and gives it back. "
         "Compare allocations per op, latency and throughput; swap the process's allocator.",
    params=S.PARAMS,
    variants=(
        Variant("malloc", op_malloc, "the C library's malloc/free (the process's allocator)"),
        Variant("numpy", op_numpy, "np.empty in the kernel: numba's runtime allocation"),
        Variant("pool", op_pool, "size-classed pool: per-thread caches over a shared tagged lock-free list"),
        Variant("pool_shared", op_pool_shared, "the pool without thread caches: every op on the shared list"),
        Variant("pool_aba", op_pool_aba, "the shared list with an untagged CAS: ABA (broken on purpose)",
                broken=True),
        Variant("arena", op_arena, "bump allocation per thread, reset every request_ops ops"),
        Variant("stack", op_stack, "one fixed per-thread buffer: no allocation (the ceiling)"),
    ),
    setup=setup,
    check=check,
    metrics=S.metrics,
    aux_name="aux",
    child_env=S.child_env,
    default_variants=("malloc", "numpy", "pool", "arena", "stack"),
)
