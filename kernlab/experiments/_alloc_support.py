"""The `alloc` experiment's parameters, workload, bookkeeping, check and allocator swap
(kept apart so that ``alloc.py`` reads as the ops). No ``EXPERIMENT`` here.

Allocator swap: a non-system ``allocator`` runs the trials in a child process
(``kernlab.child``) whose ``LD_PRELOAD`` names the Debian library, so every ``malloc``
and ``free`` in it (the ``malloc`` variant's, numba's runtime's, numpy's) goes to that
allocator.
"""
from __future__ import annotations

import os
import sysconfig

import numpy as np

from ..declaration import Check, Param, ParamError
from ..jit import inline_kernel
from ..primitives import pool as P
from ..workload import rng_next

# Per-thread statistics (one padded row each).
ALLOC_CALLS, FREE_CALLS, BYTES, MISSES, CORRUPT, DOUBLE, OBTAINED, RELEASED, HELD_HEAD, HELD_N, \
    DRAINED, DRAINED_HEAP, REQUEST_DONE = range(13)      # REQUEST_DONE: ops of the arena's current request
ADDR, STAMP, SIZE, ID = range(4)                 # a held buffer's record
HEAP = -1                                        # the id of a held buffer that came from malloc
LIVE, RANDOM_RELEASE, REQUEST_OPS, BATCH, WINDOW = range(5)       # cfg
STREAM = 4096                                    # sizes per thread, replayed cyclically

# A made-up mix, not a trace: small results (stat, getpid, a short read) are common,
# page-sized reads less so, large reads rare. Shares and log-uniform byte ranges.
SYSCALL_MIX = ((0.6, 16, 256), (0.3, 256, 4096), (0.1, 4096, 65536))
POOL_CLASS_BYTES = 8 << 20          # a class's buffers take at most this much of the pool's slab
ARENA_BYTES = 8 << 20               # an arena region (per thread) is at most this big

# allocator -> (shared library, Debian package)
ALLOCATORS = {
    "jemalloc": ("libjemalloc.so.2", "libjemalloc2"),
    "mimalloc": ("libmimalloc.so.2", "libmimalloc2.0"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
}

PARAMS = (
    Param("size", int, 64, "bytes per result buffer (with sizes=fixed)", low=16, high=65536, log_scale=True),
    Param("sizes", str, "fixed", "fixed: every result `size` bytes; syscall_mix: 60% 16-256 B, 30% 256 B-4 KiB, "
          "10% 4-64 KiB", choices=("fixed", "syscall_mix")),
    Param("live", int, 0, "buffers each thread keeps outstanding (fragmentation); malloc and pool",
          low=0, high=1024),
    Param("release", str, "fifo", "order in which outstanding buffers are given back", choices=("fifo", "random")),
    Param("request_ops", int, 16, "ops per request: the arena is reset after each request", low=1, high=1024),
    Param("allocator", str, "system", "the process's malloc: system (glibc) or one swapped in by LD_PRELOAD "
          "in a child process", choices=("system", "jemalloc", "mimalloc", "tcmalloc")),
    Param("pool_buffers", int, 256, "buffers per size class in the pool (bounded: misses fall back to malloc)",
          low=8, high=65536, log_scale=True),
    Param("thread_cache", int, 32, "capacity of each thread's cache per size class (pool)", low=2, high=1024),
    Param("aba_window", int, 64, "pauses injected into pool_shared/pool_aba's race window (liburcu-style)",
          low=0, high=100_000, log_scale=True, used_by=("pool_shared", "pool_aba")),
)


def size_streams(threads: int, params: dict, length: int) -> np.ndarray:
    """(threads, length) byte sizes, multiples of 8, drawn before the run (seeded)."""
    if params["sizes"] == "fixed":
        return np.full((threads, length), -(-params["size"] // 8) * 8, np.int64)
    rng = np.random.default_rng(777)
    shares = np.array([s for s, _, _ in SYSCALL_MIX])
    band = rng.choice(len(SYSCALL_MIX), size=(threads, length), p=shares / shares.sum())
    lo = np.log2([lo for _, lo, _ in SYSCALL_MIX])[band]
    hi = np.log2([hi for _, _, hi in SYSCALL_MIX])[band]
    sizes = np.exp2(lo + (hi - lo) * rng.random((threads, length)))
    return np.clip((np.ceil(sizes / 8) * 8).astype(np.int64), 16, 65536)


# ----------------------------------------------------------------------------- held buffers

@inline_kernel
def hold(held, stats, tid, addr, stamp, nbytes, buffer_id):
    """Append a buffer to thread tid's ring of outstanding buffers (plain: its own row)."""
    # a power of two: no division; unsigned, so the stores below skip negative-index wraparound
    at = np.uint64((stats[tid, HELD_HEAD] + stats[tid, HELD_N]) & (held.shape[1] - 1))
    held[tid, at, ADDR] = addr
    held[tid, at, STAMP] = stamp
    held[tid, at, SIZE] = nbytes
    held[tid, at, ID] = buffer_id
    stats[tid, HELD_N] += 1


@inline_kernel
def unhold_oldest(held, stats, tid):
    """Remove the oldest outstanding buffer and return its slot; the record stays
    readable until the next ``hold``."""
    head = stats[tid, HELD_HEAD]
    stats[tid, HELD_HEAD] = (head + 1) & (held.shape[1] - 1)
    stats[tid, HELD_N] -= 1
    return np.uint64(head)          # an index (>= 0): unsigned skips negative-index wraparound


@inline_kernel
def unhold_random(held, stats, tid, rng):
    """Remove a random outstanding buffer (swapped to the front first)."""
    head, count, cap = stats[tid, HELD_HEAD], stats[tid, HELD_N], held.shape[1]
    j = (head + np.int64(rng_next(rng, tid) % np.uint64(count))) & (cap - 1)
    for f in range(4):
        held[tid, head, f], held[tid, j, f] = held[tid, j, f], held[tid, head, f]
    return unhold_oldest(held, stats, tid)


# ----------------------------------------------------------------------------- check, metrics

def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def check_and_drain(state, drain) -> Check:
    """Record RSS and live bytes, give back what is still held, then check."""
    stats, held, rss, counts = state[2], state[3], state[16], state[17]
    threads = stats.shape[0]
    live = sum(int(held[t, (stats[t, HELD_HEAD] + k) & (held.shape[1] - 1), SIZE])
               for t in range(threads) for k in range(int(stats[t, HELD_N])))
    rss[1], rss[2] = rss_bytes(), live
    for t in range(threads):
        drain(t)
    col = lambda i: int(stats[:, i].sum())
    problems = []
    if col(CORRUPT):
        problems.append(f"{col(CORRUPT):,} buffers came back with foreign contents")
    if col(DOUBLE):
        problems.append(f"{col(DOUBLE):,} buffers were handed to two holders at once")
    if col(OBTAINED) != col(RELEASED) + col(DRAINED):
        problems.append(f"obtained {col(OBTAINED):,} but gave back {col(RELEASED) + col(DRAINED):,}")
    if col(ALLOC_CALLS) != col(FREE_CALLS) + col(DRAINED_HEAP):
        problems.append(f"{col(ALLOC_CALLS):,} malloc calls against {col(FREE_CALLS) + col(DRAINED_HEAP):,} frees")
    heads, links, cache, cache_len, owner = state[6], state[7], state[9], state[10], state[12]
    for c in range(P.CLASSES):
        if counts[c]:
            ids = P.free_ids(heads, links, cache, cache_len, c)
            if len(ids) != counts[c] or len(set(ids)) != len(ids):
                problems.append(f"the {P.class_bytes(c)}-byte class holds {len(set(ids))} distinct free buffers "
                                f"({len(ids) - len(set(ids))} listed twice) of {int(counts[c])}")
            wrong = P.misowned(heads, links, cache, cache_len, owner, c)
            if wrong:
                problems.append(f"{wrong:,} free {P.class_bytes(c)}-byte buffers have an owner word that "
                                "disagrees with where they are")
    if problems:
        return Check(False, "; ".join(problems))
    return Check(True, f"{col(OBTAINED):,} buffers verified on return, none handed out twice; "
                       "allocations and frees balance")


def metrics(state, per_thread_ops, per_thread_aux, params):
    stats, rss = state[2], state[16]
    ops = max(int(per_thread_ops.sum()), 1)
    col = lambda i: int(stats[:, i].sum())
    out = {"allocs_per_op": (col(ALLOC_CALLS) + col(FREE_CALLS)) / ops,
           "bytes_per_op": col(BYTES) / ops,
           "buffers_per_op": col(OBTAINED) / ops,
           "corrupt": col(CORRUPT), "double_handouts": col(DOUBLE)}
    # A hit keeps no count of its own (a memory increment per op): every buffer obtained
    # without a malloc call was a hit. A miss of a pool or an arena is counted (and falls
    # back to malloc, except on the shared list); malloc and numpy have neither.
    hits = col(OBTAINED) - col(ALLOC_CALLS)
    if hits + col(MISSES):
        out["hit_rate"] = hits / (hits + col(MISSES))
    if rss[2] > 0:
        out["rss_growth_per_live_byte"] = (int(rss[1]) - int(rss[0])) / int(rss[2])
    return out


# ----------------------------------------------------------------------------- allocator swap

def library_dirs() -> list:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    return [d for d in (f"/usr/lib/{multiarch}", f"/lib/{multiarch}", "/usr/lib", "/usr/local/lib") if d]


def allocator_library(name: str) -> str | None:
    """Path of the allocator's shared library, or None if it is not installed."""
    soname = ALLOCATORS[name][0]
    for folder in library_dirs():
        path = os.path.join(folder, soname)
        if os.path.exists(path):
            return path
    return None


def available_allocators() -> list:
    """``system`` and every swappable allocator installed here."""
    return ["system"] + [name for name in ALLOCATORS if allocator_library(name)]


def missing_allocators() -> dict:
    """``{allocator: how to install it}`` for every swappable allocator not installed here."""
    return {name: f"apt-get install {pkg}" for name, (_, pkg) in ALLOCATORS.items() if not allocator_library(name)}


def child_env(params: dict) -> dict | None:
    """The child process's environment for a non-system allocator; None for glibc."""
    name = params.get("allocator", "system")
    if name == "system":
        return None
    path = allocator_library(name)
    if path is None:
        raise ParamError(f"allocator '{name}' is not installed: install the Debian package "
                         f"{ALLOCATORS[name][1]} (apt-get install {ALLOCATORS[name][1]})")
    preload = " ".join(p for p in (path, os.environ.get("LD_PRELOAD", "")) if p)
    return {"LD_PRELOAD": preload, "KERNLAB_ALLOCATOR": name}
