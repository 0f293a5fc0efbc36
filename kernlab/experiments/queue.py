"""The `queue` experiment: producers and consumers through rings, a stack and a linked queue.

Threads take roles from their id: the first ``producers`` threads produce, the rest
consume (``producers`` 0: half the threads, rounded down, at least one; the stacks with
``producers`` 0 are a pool instead: every thread pushes and pops, see ``_treiber``). One
thread alone alternates: an enqueue, then a dequeue. An op is one enqueue (or up to ``batch``
items) for a producer, one dequeue (or up to ``batch``) for a consumer; a full or empty
structure makes the op wait, polling the stop flag, and counts the spins.

Every item carries (producer, sequence, checksum) and, for one item in ``stamp_every``
(chosen by a hash of the sequence, not a stride), its enqueue time: the consumer
records the enqueue -> dequeue latency. Consumers verify every item (checksum, and for
the queues that each producer's sequences arrive in increasing order) and tally a
count and a hash sum per producer. The check drains what is left inside and demands
that every sequence a producer made was consumed or is still inside exactly once.

This module is longer than 350 lines because its eight variants' ops share one state and
one set of helpers (roles, items, tallies); the check and the layout live in _queue_check.

Shared state (fresh per trial): cfg, stats (a padded row per thread), tally (per
consumer, per producer: count, hash sum, last sequence), e2e latency samples, the ring
(indices, slots, futex word), the stack (heads, nodes, pop history, evidence), the
Michael-Scott queue (ends and its epoch domain).
"""
import numpy as np

from .. import atomics as A
from ..declaration import Experiment, Param, ParamError, Variant
from ..harness import should_abandon
from ..jit import inline_kernel
from ..layout import padded_rows, padded_scalar
from ..primitives import lockfree_stack as S
from ..primitives import msqueue as M
from ..primitives import rings as R
from ..primitives.epoch import retire
from ..primitives.locks import spin_work
from ..workload import FIBONACCI
from ._queue_check import (
    C_BATCH,
    C_CAPACITY,
    C_CWORK,
    C_POOL,
    C_PRODUCERS,
    C_PWORK,
    C_STAMP_MASK,
    C_THREADS,
    C_WINDOW,
    K_ABA,
    K_MPMC,
    K_MSQ,
    K_MUTEX,
    K_NO_SEQ,
    K_SPSC,
    K_SPSC_CACHED,
    K_TREIBER,
    LAT_SAMPLES,
    S_CORRUPT,
    S_DOUBLE,
    S_EMPTY,
    S_FULL,
    S_KIND,
    S_LAT,
    S_MAG_HEAD,
    S_MAG_TAIL,
    S_ORDER,
    S_RETRIES,
    S_SEQ,
    S_T_FIRST,
    S_T_LAST,
    S_UNTALLIED,
    T_COUNT,
    T_HASH,
    T_LAST,
    check,
    item_hash,
    metrics,
)


@inline_kernel
def _begin(stats, tid, n, kind):
    if n == 0:
        stats[tid, S_KIND] = kind
        stats[tid, S_T_FIRST] = A.now_ns()


@inline_kernel
def _producing(cfg, tid, n):
    return (n & 1) == 0 if cfg[C_THREADS] == 1 else tid < cfg[C_PRODUCERS]


@inline_kernel
def _stack_producing(cfg, tid, n):
    """A stack with ``producers`` 0 is a pool: every thread pushes, then pops."""
    return (n & 1) == 0 if cfg[C_THREADS] == 1 or cfg[C_POOL] != 0 else tid < cfg[C_PRODUCERS]


@inline_kernel
def _stamp(stats, cfg, tid, seq):
    """The enqueue time for one item in stamp_every (by a hash of seq), else 0."""
    if np.int64((np.uint64(seq) * FIBONACCI) >> np.uint64(40)) & cfg[C_STAMP_MASK] != 0:
        return 0
    now = A.now_ns()
    stats[tid, S_T_LAST] = now
    return now


@inline_kernel
def _next_item(stats, cfg, tid):
    """``(seq, stamp)`` of this producer's next item (its id is its tid)."""
    seq = stats[tid, S_SEQ]
    stats[tid, S_SEQ] = seq + 1
    return seq, _stamp(stats, cfg, tid, seq)


@inline_kernel
def _consumed(stats, tally, lat, cfg, tid, producer, seq, stamp, whole, fifo):
    """Verify and tally one dequeued item in ``tid``'s own rows (single writer)."""
    if not whole or producer < 0 or producer >= cfg[C_THREADS]:
        stats[tid, S_UNTALLIED] += 1            # a whole item is counted by its tally (T_COUNT)
        stats[tid, S_CORRUPT] += 1
        return
    base = 4 * producer
    if fifo and seq < tally[tid, base + T_LAST]:
        stats[tid, S_ORDER] += 1
    tally[tid, base + T_LAST] = seq + 1
    tally[tid, base + T_COUNT] += 1
    tally[tid, base + T_HASH] += item_hash(producer, seq)
    if stamp != 0:
        now = A.now_ns()
        lat[tid, stats[tid, S_LAT] & (LAT_SAMPLES - 1)] = now - stamp
        stats[tid, S_LAT] += 1
        stats[tid, S_T_LAST] = now


# ----------------------------------------------------------------------------- rings

@inline_kernel
def _ring_write(slots, cfg, stats, tid, pos, k):
    for i in range(k):
        seq, stamp = _next_item(stats, cfg, tid)
        R.write_item(slots, (pos + i) & (cfg[C_CAPACITY] - 1), tid, seq, stamp)


@inline_kernel
def _ring_read(slots, cfg, stats, tally, lat, tid, pos, k):
    for i in range(k):
        producer, seq, stamp, whole = R.read_item(slots, (pos + i) & (cfg[C_CAPACITY] - 1))
        _consumed(stats, tally, lat, cfg, tid, producer, seq, stamp, whole, True)


@inline_kernel
def _spsc(ctl, state, tid, n, cached):
    cfg, stats, tally, lat, idx, slots = state[0], state[1], state[2], state[3], state[4], state[5]
    _begin(stats, tid, n, K_SPSC_CACHED if cached else K_SPSC)
    if _producing(cfg, tid, n):
        if cached:
            tail, room, spins = R.spsc_cached_reserve(idx, cfg[C_CAPACITY], ctl)
        else:
            tail, room, spins = R.spsc_reserve(idx, cfg[C_CAPACITY], ctl)
        if spins != 0:          # rare once the ring runs: no store per op for a zero
            stats[tid, S_FULL] += spins
        if room < 0:
            return -1
        k = min(room, cfg[C_BATCH])
        _ring_write(slots, cfg, stats, tid, tail, k)
        R.spsc_publish(idx, tail + k)
        spin_work(cfg[C_PWORK], cfg)
        return spins
    if cached:
        head, avail, spins = R.spsc_cached_available(idx, ctl)
    else:
        head, avail, spins = R.spsc_available(idx, ctl)
    if spins != 0:
        stats[tid, S_EMPTY] += spins
    if avail < 0:
        return -1
    k = min(avail, cfg[C_BATCH])
    _ring_read(slots, cfg, stats, tally, lat, tid, head, k)
    R.spsc_consume(idx, head + k)
    spin_work(cfg[C_CWORK], cfg)
    return spins


@inline_kernel
def op_spsc(ctl, state, tid, n):
    return _spsc(ctl, state, tid, n, False)


@inline_kernel
def op_spsc_cached(ctl, state, tid, n):
    return _spsc(ctl, state, tid, n, True)


@inline_kernel
def op_mutex_deque(ctl, state, tid, n):
    cfg, stats, tally, lat, idx, slots, futex = state[0], state[1], state[2], state[3], state[4], state[5], state[6]
    _begin(stats, tid, n, K_MUTEX)
    if _producing(cfg, tid, n):
        tail, room, spins, sleeps = R.mutex_reserve(idx, futex, cfg[C_CAPACITY], ctl)
        if spins != 0:          # rare once the ring runs: no store per op for a zero
            stats[tid, S_FULL] += spins
        if room < 0:
            return -1
        k = min(room, cfg[C_BATCH])
        _ring_write(slots, cfg, stats, tid, tail, k)
        R.mutex_set_and_unlock(idx, futex, R.TAIL, tail + k)
        spin_work(cfg[C_PWORK], cfg)
        return spins + sleeps
    head, avail, spins, sleeps = R.mutex_available(idx, futex, ctl)
    stats[tid, S_EMPTY] += spins
    if avail < 0:
        return -1
    k = min(avail, cfg[C_BATCH])
    _ring_read(slots, cfg, stats, tally, lat, tid, head, k)
    R.mutex_set_and_unlock(idx, futex, R.HEAD, head + k)
    spin_work(cfg[C_CWORK], cfg)
    return spins + sleeps


@inline_kernel
def _mpmc(ctl, state, tid, n, checked):
    cfg, stats, tally, lat, idx, slots = state[0], state[1], state[2], state[3], state[4], state[5]
    mask = cfg[C_CAPACITY] - 1
    _begin(stats, tid, n, K_MPMC if checked else K_NO_SEQ)
    waits = 0
    producing = _producing(cfg, tid, n)
    for _ in range(cfg[C_BATCH]):
        if producing:
            if checked:
                pos, retries, spins = R.mpmc_claim_push(idx, slots, mask, ctl)
            else:
                pos, retries, spins = R.no_seq_claim_push(idx, cfg[C_CAPACITY], ctl)
            stats[tid, S_FULL] += spins
        else:
            if checked:
                pos, retries, spins = R.mpmc_claim_pop(idx, slots, mask, ctl)
            else:
                pos, retries, spins = R.no_seq_claim_pop(idx, ctl)
            stats[tid, S_EMPTY] += spins
        stats[tid, S_RETRIES] += retries
        waits += spins + retries
        if pos < 0:
            return -1
        if producing:
            seq, stamp = _next_item(stats, cfg, tid)
            R.write_item(slots, pos & mask, tid, seq, stamp)
            if checked:
                R.mpmc_release_push(slots, mask, pos)
        else:
            producer, seq, stamp, whole = R.read_item(slots, pos & mask)
            if checked:
                R.mpmc_release_pop(slots, mask, pos)
            _consumed(stats, tally, lat, cfg, tid, producer, seq, stamp, whole, True)
    spin_work(cfg[C_PWORK] if producing else cfg[C_CWORK], cfg)
    return waits


@inline_kernel
def op_mpmc(ctl, state, tid, n):
    return _mpmc(ctl, state, tid, n, True)


@inline_kernel
def op_mpmc_no_seq(ctl, state, tid, n):
    return _mpmc(ctl, state, tid, n, False)


# ----------------------------------------------------------------------------- the stack

@inline_kernel
def _pop_stack(heads, h, nodes, tagged, window, once, cfg, ctl):
    """Pop, waiting while the stack is empty (``once``: one try): ``(ref, old, new,
    retries, spins)``; ref 0: empty after one try, or the run stopped."""
    spins = 0
    retries = 0
    while True:
        ref, old, new, r = S.pop(heads, h, nodes, tagged, window, cfg)
        retries += r
        if ref != 0:
            return ref, old, new, retries, spins
        spins += 1
        if once:
            return 0, old, new, retries, spins
        A.cpu_relax()
        if should_abandon(ctl, spins):
            return 0, old, new, retries, spins


@inline_kernel
def _treiber(ctl, state, tid, n, tagged):
    """Split roles: producers pop FREE and push DATA, consumers pop DATA and push FREE.
    A pool (``producers`` 0, threads > 1): each op flips a coin (a hash of n) to push or
    pop, a pop that finds DATA empty gives its turn up, and a popped node goes to the
    thread's own FIFO magazine, from which its pushes take nodes first (as an
    allocator's per-CPU cache would). FIFO reuse is what lets one thread, while another
    is stalled in a pop, bring a node back to the top over a different ``next``: with
    LIFO reuse a lone thread restores the very order the stalled pop read."""
    cfg, stats, tally, lat = state[0], state[1], state[2], state[3]
    heads, nodes, history, evidence, snapshot, magazine = state[7], state[8], state[9], state[10], state[11], state[18]
    _begin(stats, tid, n, K_TREIBER if tagged else K_ABA)
    pool = cfg[C_POOL] != 0 and cfg[C_THREADS] > 1
    coin = np.uint64(n) * FIBONACCI
    producing = (coin >> np.uint64(63)) == 0 if pool else _stack_producing(cfg, tid, n)
    # race_window stalls one pop in 16 (other bits of the hash), as a preemption would.
    stall = cfg[C_WINDOW] if ((coin >> np.uint64(56)) & np.uint64(15)) == 0 else 0
    mask = cfg[C_CAPACITY] - 1
    waits = 0
    for _ in range(cfg[C_BATCH]):
        if producing and pool and stats[tid, S_MAG_HEAD] != stats[tid, S_MAG_TAIL]:
            ref, old, new, retries, spins = magazine[tid, stats[tid, S_MAG_HEAD] & mask], 0, 0, 0, 0
            stats[tid, S_MAG_HEAD] += 1
        else:
            ref, old, new, retries, spins = _pop_stack(heads, S.FREE if producing else S.DATA, nodes, tagged,
                                                       stall, pool, cfg, ctl)
        stats[tid, S_FULL if producing else S_EMPTY] += spins
        stats[tid, S_RETRIES] += retries
        waits += spins + retries
        if ref == 0:
            return waits if pool else -1      # a pool's empty try gives the turn up
        if producing:
            seq, stamp = _next_item(stats, cfg, tid)
            R.write_item(nodes, ref - 1, tid, seq, stamp)
            S.mark_in_stack(nodes, ref)
            retries = S.push(heads, S.DATA, nodes, ref, tagged)
        else:
            found = S.take(nodes, ref, tid, history, n, old, new)
            if found != S.IN_STACK:
                stats[tid, S_DOUBLE] += 1
                S.record_evidence(evidence, snapshot, history, nodes, ref, tid, found, old, new, n)
            S.note_taker(nodes, ref, tid)
            producer, seq, stamp, whole = R.read_item(nodes, ref - 1)
            _consumed(stats, tally, lat, cfg, tid, producer, seq, stamp, whole, False)
            if pool:
                magazine[tid, stats[tid, S_MAG_TAIL] & mask] = ref
                stats[tid, S_MAG_TAIL] += 1
                retries = 0
            else:
                retries = S.push(heads, S.FREE, nodes, ref, tagged)
        stats[tid, S_RETRIES] += retries
        waits += retries
    spin_work(cfg[C_PWORK] if producing else cfg[C_CWORK], cfg)
    return waits


@inline_kernel
def op_treiber(ctl, state, tid, n):
    return _treiber(ctl, state, tid, n, True)


@inline_kernel
def op_treiber_aba(ctl, state, tid, n):
    return _treiber(ctl, state, tid, n, False)


# ----------------------------------------------------------------------------- Michael-Scott

@inline_kernel
def op_ms_queue(ctl, state, tid, n):
    cfg, stats, tally, lat = state[0], state[1], state[2], state[3]
    ends, meta, local, limbo, records, free = state[12], state[13], state[14], state[15], state[16], state[17]
    _begin(stats, tid, n, K_MSQ)
    waits = 0
    producing = _producing(cfg, tid, n)
    for _ in range(cfg[C_BATCH]):
        if producing:
            r, spins = M.take_record(free, ctl)
            stats[tid, S_FULL] += spins
            waits += spins
            if r < 0:
                return -1
            seq, stamp = _next_item(stats, cfg, tid)
            R.write_item(records, r, tid, seq, stamp)
            M.enter(meta, local, tid)
            retries = M.link(ends, records, r)
            M.leave(local, tid)
        else:
            spins = 0
            while True:
                M.enter(meta, local, tid)
                r, old, retries = M.unlink(ends, records)
                if r >= 0:
                    producer, seq, stamp, whole = R.read_item(records, r)
                    M.leave(local, tid)
                    _consumed(stats, tally, lat, cfg, tid, producer, seq, stamp, whole, True)
                    # the old dummy is unlinked; freed two epochs on (-1: run stopped, it leaks)
                    if retire(meta, local, limbo, records, free, tid, cfg[C_THREADS], old, ctl) < 0:
                        return -1
                    break
                M.leave(local, tid)
                if r == -2:                   # poison in a link: count it, never follow it
                    stats[tid, S_CORRUPT] += 1
                    return -1
                spins += 1
                A.cpu_relax()
                if should_abandon(ctl, spins):
                    stats[tid, S_EMPTY] += spins
                    return -1
            stats[tid, S_EMPTY] += spins
            waits += spins
        stats[tid, S_RETRIES] += retries
        waits += retries
    spin_work(cfg[C_PWORK] if producing else cfg[C_CWORK], cfg)
    return waits


# ----------------------------------------------------------------------------- declaration

def roles(threads: int, params: dict) -> tuple[int, int]:
    """``(producers, consumers)`` for a thread count; one thread alternates (1 + 1)."""
    if threads == 1:
        return 1, 1
    p = params["producers"] or max(threads // 2, 1)
    if p >= threads:
        raise ParamError(f"parameter 'producers' must be in [0, {threads - 1}] with {threads} threads "
                         f"(0: half of them), got {p}")
    return p, threads - p


def validate(variant: str, threads: int, params: dict) -> None:
    """spsc rings take exactly one producer and one consumer."""
    if variant.startswith("spsc") and roles(threads, params) != (1, 1):
        p, c = roles(threads, params)
        raise ParamError(f"variant '{variant}' needs 1 producer + 1 consumer (threads 2, or 1 alternating), "
                         f"got {p} + {c} from threads={threads}, producers={params['producers']}")


def setup(threads, params):
    producers, _ = roles(threads, params)
    cap = params["capacity"]
    cfg = np.array([producers, threads, params["batch"], params["producer_work"], params["consumer_work"],
                    params["stamp_every"] - 1, cap, params["race_window"], params["producers"] == 0], np.int64)
    stats = padded_rows(threads, 16)
    tally = padded_rows(threads, 4 * threads)      # per consumer, per producer id (= tid)
    lat = np.zeros((threads, LAT_SAMPLES), np.int64)
    idx, slots = R.make_ring(cap)
    stack = S.make_stack(cap, threads)
    magazine = np.zeros((threads, cap), np.int64)   # a pool's per-thread FIFO of free nodes (see _treiber)
    return (cfg, stats, tally, lat, idx, slots, padded_scalar(np.int32), *stack, *M.make_queue(threads, cap), magazine)


EXPERIMENT = Experiment(
    name="queue",
    title="Producers and consumers: SPSC and MPMC rings, a Treiber stack, the Michael-Scott queue",
    help="The first `producers` threads enqueue, the rest dequeue (one thread alternates). Every item is "
         "checked: consumed exactly once, in order per producer (queues), none corrupt.",
    params=(
        Param("producers", int, 0, "producer threads, the rest consume; 0: half the threads, "
              "and for the stacks every thread pushes then pops (a pool)", low=0, high=1023),
        Param("capacity", int, 1024, "slots in the ring / nodes in the pool", low=2, high=1 << 20,
              power_of_two=True, log_scale=True),
        Param("batch", int, 1, "items per op (spsc rings publish a batch with one index store)",
              low=1, high=1024, log_scale=True),
        Param("producer_work", int, 0, "work rounds after each enqueue op (see locks.work_ns_per_round)",
              low=0, high=1_000_000),
        Param("consumer_work", int, 0, "work rounds after each dequeue op", low=0, high=1_000_000),
        Param("stamp_every", int, 64, "one item in this many carries its enqueue time (latency samples)",
              low=1, high=1 << 16, power_of_two=True, log_scale=True),
        # Default 32 (~10 ns, one pop in 16): a stand-in for the preemption that exposes ABA on a
        # loaded machine, so the untagged stack is caught in a short run; 0 measures pure speed.
        Param("race_window", int, 32, "work rounds in one stack pop in 16, between reading next and the CAS",
              low=0, high=100_000, used_by=("treiber", "treiber_aba")),
    ),
    variants=(
        Variant("mutex_deque", op_mutex_deque, "a ring under the futex mutex (the baseline); aux: waits"),
        Variant("spsc", op_spsc, "Lamport's SPSC ring: acquire/release indices; 1 producer + 1 consumer"),
        Variant("spsc_cached", op_spsc_cached, "SPSC ring, each side caching the other's index (rigtorp, folly)"),
        Variant("mpmc", op_mpmc, "Vyukov's bounded MPMC ring, per-slot sequence numbers"),
        Variant("treiber", op_treiber, "Treiber stack with a tagged (version-counted) head"),
        Variant("ms_queue", op_ms_queue, "Michael-Scott queue, nodes reclaimed by epochs"),
        Variant("treiber_aba", op_treiber_aba, "Treiber stack, untagged head: ABA (broken on purpose)",
                broken=True),
        Variant("mpmc_no_seq", op_mpmc_no_seq, "MPMC ring claiming slots by index alone (broken on purpose)",
                broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="waits",
    validate=validate,
    default_variants=("mutex_deque", "mpmc", "treiber", "ms_queue"),
)
