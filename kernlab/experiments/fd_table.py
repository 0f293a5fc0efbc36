"""The `fd_table` experiment: per-process file-descriptor tables, hot lookups, rare open/close.

``processes`` tables of ``fds`` descriptors each; descriptor (p, fd) is key
``p * fds + fd``. A slot holds the index of an open-file record (primitives.records:
key, per-key update count, generation, checksum) or, when the descriptor is closed, a
negative code ``-1 - count`` that keeps the key's update count. An op is a lookup
(``fget``: find the record, verify it), or with probability 1 - read_ratio a toggle: close
an open descriptor (unlink and free its record) or open a closed one (a fresh record).

    rwlock          one reader-writer lock per process table (primitives.rwlock); a close
                    frees its record at once: the write lock keeps every reader out
    sharded         DashMap-style: one reader-writer lock per shard, shard = hash(key) &
                    (shards - 1) (or % shards); ShardManager's count by default
    epoch           lock-free: lookups pin an epoch (primitives.epoch) and read the slot;
                    open and close CAS the slot; a closed record waits in its closer's
                    limbo list and is poisoned and freed two epoch advances later
    epoch_early_free  epoch that frees at once (broken on purpose: readers see poison)

A stalled reader (``stall_us``) stops between loading a slot and reading its record,
inside its read section. Locked variants: writers of that table (or shard) wait.
Epoch: the global epoch cannot advance past the stalled reader's pin, so closed records
pile up in the limbo lists; when a writer's list is full (epoch.LIMBO_CAPACITY) the
writer waits instead of growing memory. Garbage outstanding is sampled over time
(thread 0) and reported with its hard bound, threads x LIMBO_CAPACITY.

Check: no lookup saw a torn, poisoned or wrong-key record; each descriptor's final
state replays its committed toggles (its update count equals them; open iff even); and
no record id is in two places at once (published, free list, limbo): a double free
would put it in two.

Memory ordering (epoch). Open publishes with ``cas_release`` after writing the record's
fields; lookups and toggles load the slot with ``load_acquire``, so a record is whole
when its index is seen. Close unlinks with ``cas_relaxed``: the closed code carries no
memory (the update count travels in the word), and ``epoch.retire`` issues a SeqCst
fence between the unlink and the epoch stamp, which pairs with the fence in ``pin``
(a reader either sees the unlink or is seen pinned by the next advance: the store-load
pattern that needs full fences, primitives.epoch). The closer reads the record it
unlinks while pinned, and unpins *before* retiring: a writer that waited for the epoch
while pinned would hold the epoch back itself. Locked variants: relaxed accesses under
the rwlock's acquire/release.
"""
import numpy as np

from .. import atomics as A
from ..claims import Claim, Verdict, median_rate
from ..declaration import Check, Experiment, Param, Variant
from ..jit import inline_kernel, kernel
from ..layout import aligned_zeros, padded_rows, padded_scalar, padded_slots
from ..primitives import epoch as E
from ..primitives.freelist import DATA as FIFO_DATA, HEAD as FIFO_HEAD, TAIL as FIFO_TAIL
from ..primitives.records import POISON, POISONED, TORN, count_error, error_summary, mix, read_record, write_record
from ..primitives.rwlock import read_lock, read_unlock, write_lock, write_unlock
from ..primitives.shard_manager import MASK, MODULO, ShardManager, shard_of
from ..harness import stopping
from ..workload import chance, key_streams, next_key, rng_states
from ._read_mostly import (SHARD_CHOICES, key_skew_param, make_series, maybe_stall, read_only_param,
                           read_ratio_param, sample_series, series_metrics, shard_load, shard_params, stall_param,
                           update_threshold)

# cfg words
C_UPDATE, C_SHARDS, C_MODE, C_STALL_NS, C_STALLED, C_THREADS, C_FDS = range(7)
# state tuple
META, LOCAL, LIMBO, RECORDS, FREE, SLOTS, LOCKS, KEYS, RNG, ERRORS, APPLIED, SERIES, CFG = range(13)


# ----------------------------------------------------------------------------- shared bodies

@inline_kernel
def _decide(keys, rng, threshold, tid, n):
    """(key, is_toggle, generation) for thread tid's n-th op."""
    key = next_key(keys, tid, n)
    toggle = threshold > 0 and chance(rng, tid, threshold)
    return key, toggle, n * 1024 + tid + 1          # generation: unique per (thread, op), threads <= 1024


@inline_kernel
def _fget(records, errors, tid, key, s):
    """Verify the record behind slot value s (closed: EBADF, nothing to read)."""
    if s < 0:
        return
    if s >= records.shape[0]:
        count_error(errors, tid, TORN)
        return
    outcome, _, _ = read_record(records, s, key)
    count_error(errors, tid, outcome)


@kernel
def _locked_toggle(ctl, slots, records, free, applied, key, gen):
    """Close or open ``key`` under its write lock: every reader of the slot is excluded,
    so a closed record is poisoned and freed at once. Returns 0, or -1 if stopped."""
    s = A.load_relaxed(slots, key)             # relaxed: ordered by the write lock
    if s >= 0:
        _, count, _ = read_record(records, s, key)
        A.store_relaxed(slots, key, -1 - (count + 1))
        E.free_unpublished(records, free, s, ctl)
    else:
        r = E.alloc_record(free, ctl)
        if r < 0:
            return -1
        write_record(records, r, key, -s, gen)   # count: (-1 - s) + 1
        A.store_relaxed(slots, key, r)           # relaxed: published by write_unlock's release
    A.fetch_add_relaxed(applied, key, 1)         # relaxed: a count, read after join
    return 0


@inline_kernel
def _rw_op(ctl, locks, slots, records, free, errors, applied, keys, rng, cfg, tid, n, sharded):
    key, toggle, gen = _decide(keys, rng, cfg[C_UPDATE], tid, n)
    row = 1 + (shard_of(key, cfg[C_SHARDS], cfg[C_MODE]) if sharded else key // cfg[C_FDS])
    if toggle:
        spins = write_lock(locks, (row, 0), ctl)
        if spins < 0:
            return -1
        r = _locked_toggle(ctl, slots, records, free, applied, key, gen)
        write_unlock(locks, (row, 0))
        return -1 if r < 0 else spins
    spins = read_lock(locks, (row, 0), ctl)
    if spins < 0:
        return -1
    s = A.load_relaxed(slots, key)                # relaxed: ordered by the read lock
    maybe_stall(ctl, cfg[C_STALL_NS], cfg[C_STALLED], tid, n)
    _fget(records, errors, tid, key, s)
    read_unlock(locks, (row, 0))
    return spins


@inline_kernel
def op_rwlock(ctl, state, tid, n):
    return _rw_op(ctl, state[LOCKS], state[SLOTS], state[RECORDS], state[FREE], state[ERRORS], state[APPLIED],
                  state[KEYS], state[RNG], state[CFG], tid, n, False)


@inline_kernel
def op_sharded(ctl, state, tid, n):
    return _rw_op(ctl, state[LOCKS], state[SLOTS], state[RECORDS], state[FREE], state[ERRORS], state[APPLIED],
                  state[KEYS], state[RNG], state[CFG], tid, n, True)


# ----------------------------------------------------------------------------- epoch

@kernel
def _epoch_toggle(ctl, meta, local, limbo, records, free, slots, errors, applied, series, threads, tid, key, gen,
                  early):
    """Lock-free close/open of ``key`` by CAS on its slot; a closed record is retired.
    Returns CAS retries (+ limbo waits), or -1 if the run stopped."""
    E.pin(meta, local, tid)          # we read the record we may unlink: it must not be freed under us
    fresh = np.int64(-1)             # a record we allocated and have not published
    unlinked = np.int64(-1)
    retries = 0
    while True:
        # acquire: pairs with the cas_release that published the record (open, below).
        s = A.load_acquire(slots, key)
        if s >= 0:                   # open: close it
            outcome, count, _ = read_record(records, s, key)
            count_error(errors, tid, outcome)
            if outcome == POISONED or outcome == TORN:
                count = np.int64(0)  # already reported; keep going with a defined value
            # relaxed: the code publishes no memory (the count travels in the word itself);
            # retire's fence_seq_cst orders this unlink before the epoch stamp.
            if A.cas_relaxed(slots, key, s, -1 - (count + 1)):
                unlinked = s
                break
        else:                        # closed: open it with a fresh record
            if fresh < 0:
                fresh = E.alloc_record(free, ctl)
                if fresh < 0:
                    E.unpin(local, tid)
                    return -1
            write_record(records, fresh, key, -s, gen)   # count: (-1 - s) + 1; private until the CAS
            # release: pairs with load_acquire of the slot in lookups and toggles (the
            # record's fields are written before its index is visible).
            if A.cas_release(slots, key, s, fresh):
                fresh = -1
                break
        retries += 1                 # another writer toggled this key first: look again
        if stopping(ctl):
            E.unpin(local, tid)
            return -1
    E.unpin(local, tid)              # before retire: retire may wait for the epoch, and a
    #                                  writer pinned while waiting would hold the epoch back itself
    A.fetch_add_relaxed(applied, key, 1)   # relaxed: a count, read after join
    if fresh >= 0:                   # allocated for an open that another thread did first
        E.free_unpublished(records, free, fresh, ctl)
    if unlinked >= 0:
        # Sample garbage around the retire too (n = 0 passes the sampler's op filter; its
        # clock still limits it to one sample per interval): a writer waiting on a full
        # limbo list takes no other samples, and the plateau would go unseen.
        sample_series(series, meta, E.OUTSTANDING, tid, 0)
        w = E.retire(meta, local, limbo, records, free, tid, threads, unlinked, early, ctl)
        sample_series(series, meta, E.OUTSTANDING, tid, 0)
        if w < 0:
            return -1
        retries += w
    return retries


@inline_kernel
def _epoch_op(ctl, meta, local, limbo, records, free, slots, errors, applied, keys, rng, cfg, series,
              tid, n, early):
    sample_series(series, meta, E.OUTSTANDING, tid, n)
    key, toggle, gen = _decide(keys, rng, cfg[C_UPDATE], tid, n)
    if toggle:
        return _epoch_toggle(ctl, meta, local, limbo, records, free, slots, errors, applied, series,
                             cfg[C_THREADS], tid, key, gen, early)
    E.pin(meta, local, tid)
    # acquire: pairs with cas_release in _epoch_toggle (open).
    s = A.load_acquire(slots, key)
    maybe_stall(ctl, cfg[C_STALL_NS], cfg[C_STALLED], tid, n)
    _fget(records, errors, tid, key, s)
    E.unpin(local, tid)
    return 0


@inline_kernel
def op_epoch(ctl, state, tid, n):
    return _epoch_op(ctl, state[META], state[LOCAL], state[LIMBO], state[RECORDS], state[FREE], state[SLOTS],
                     state[ERRORS], state[APPLIED], state[KEYS], state[RNG], state[CFG], state[SERIES], tid, n,
                     False)


@inline_kernel
def op_epoch_early_free(ctl, state, tid, n):
    return _epoch_op(ctl, state[META], state[LOCAL], state[LIMBO], state[RECORDS], state[FREE], state[SLOTS],
                     state[ERRORS], state[APPLIED], state[KEYS], state[RNG], state[CFG], state[SERIES], tid, n,
                     True)


# ----------------------------------------------------------------------------- setup / check

def n_records(threads: int, size: int) -> int:
    """Published (<= one per descriptor) + limbo (<= LIMBO_CAPACITY per thread) + in hand."""
    return size + threads * (E.LIMBO_CAPACITY + 2) + 64


def setup(threads, params):
    procs, fds = params["processes"], params["fds"]
    size = procs * fds
    meta, local, limbo, records, free = E.make_domain(threads, n_records(threads, size), size)
    keys_ = np.arange(size, dtype=np.int64)
    records[:size, 0] = keys_
    records[:size, 1] = 0
    records[:size, 2] = keys_ + 1                         # open, generation key + 1
    records[:size, 3] = _sums(keys_)
    slots = aligned_zeros(size, np.int64)
    slots[:] = keys_                                     # descriptor k -> record k
    locks = padded_slots(1 + max(procs, max(SHARD_CHOICES)))
    keys = key_streams(threads, size, params["key_skew"])
    cfg = padded_scalar()
    cfg[C_UPDATE] = update_threshold(params)
    cfg[C_SHARDS] = params["shards"]
    cfg[C_MODE] = MASK if params["shard_index"] == "mask" else MODULO
    cfg[C_STALL_NS] = params["stall_us"] * 1000
    cfg[C_STALLED] = threads - 1
    cfg[C_THREADS] = threads
    cfg[C_FDS] = fds
    return (meta, local, limbo, records, free, slots, locks, keys, rng_states(threads),
            padded_rows(threads, 4), np.zeros(size, np.int64), make_series(), cfg)


@kernel(_nrt=True)  # allocates its result (setup only)
def _sums(keys):
    out = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        out[i] = mix(keys[i], 0, keys[i] + 1)
    return out


@kernel
def verify_table(slots, records, applied):
    """Final state: (records not whole, wrong key, state != replay of toggles, first bad key)."""
    not_whole = 0
    wrong_key = 0
    lost = 0
    first = -1
    for k in range(slots.shape[0]):
        s = slots[k]
        bad = False
        if s < 0:
            if -1 - s != applied[k] or (applied[k] & 1) != 1:
                lost += 1
                bad = True
        elif s >= records.shape[0]:
            not_whole += 1
            bad = True
        else:
            key, count, gen, check = records[s, 0], records[s, 1], records[s, 2], records[s, 3]
            if key == POISON or check != mix(key, count, gen):
                not_whole += 1
                bad = True
            elif key != k:
                wrong_key += 1
                bad = True
            elif count != applied[k] or (applied[k] & 1) != 0:
                lost += 1
                bad = True
        if bad and first < 0:
            first = k
    return not_whole, wrong_key, lost, first


def record_places(state) -> np.ndarray:
    """Every record id that is published, on the free list or in a limbo list."""
    slots, free, local, limbo = state[SLOTS], state[FREE], state[LOCAL], state[LIMBO]
    cap = int(free[2])
    head, tail = int(free[FIFO_HEAD]), int(free[FIFO_TAIL])
    parts = [slots[slots >= 0], free[FIFO_DATA + (np.arange(head, tail) % cap)]]
    lcap = limbo.shape[1]
    for t in range(limbo.shape[0]):
        h, tl = int(local[t, E.LIMBO_HEAD]), int(local[t, E.LIMBO_TAIL])
        parts.append(limbo[t, np.arange(h, tl) % lcap, 0])
    return np.concatenate(parts)


def check(state, per_thread_ops, params):
    seen = error_summary(state[ERRORS])
    not_whole, wrong_key, lost, first = verify_table(state[SLOTS], state[RECORDS], state[APPLIED])
    places = record_places(state)
    doubled = int(len(places) - len(np.unique(places)))
    toggles = int(state[APPLIED].sum())
    problems = [f"{v:,} {k.replace('_seen', '')} lookups" for k, v in seen.items() if v]
    if not_whole or wrong_key:
        problems.append(f"{not_whole + wrong_key:,} broken records in the final tables (first key {first})")
    if lost:
        problems.append(f"{lost:,} descriptors whose state does not replay their committed opens/closes "
                        f"(first key {first})")
    if doubled:
        problems.append(f"{doubled:,} record ids in two places at once (published, free, limbo): a double free")
    if problems:
        return Check(False, "; ".join(problems))
    lookups = int(per_thread_ops.sum()) - toggles
    return Check(True, f"{lookups:,} lookups saw whole records, no poison; final tables = replay of "
                       f"{toggles:,} opens/closes; no record in two places")


def metrics(state, per_thread_ops, per_thread_aux, params):
    meta = state[META]
    ops = int(per_thread_ops.sum())
    toggles = int(state[APPLIED].sum())
    threads = state[LIMBO].shape[0]
    out = {"toggles": toggles, "lookups": ops - toggles, "aux_per_op": float(per_thread_aux.sum() / max(ops, 1)),
           **error_summary(state[ERRORS]),
           "garbage_outstanding_final": int(meta[E.OUTSTANDING]), "freed": int(meta[E.FREED]),
           "epoch_advances": int(meta[E.ADVANCES]), "writer_wait_ms": float(meta[E.WAIT_NS] / 1e6),
           "garbage_peak": int(meta[E.PEAK]), "garbage_bound": threads * E.LIMBO_CAPACITY}
    out.update(series_metrics(state[SERIES], "garbage"))
    out.update(shard_load(state[KEYS], params["shards"]))
    return out


EXPERIMENT = Experiment(
    name="fd_table",
    title="Per-process FD tables: reader-writer locks, a sharded map, epoch-based reclamation",
    help="Threads look up file descriptors (verifying the open-file record they find); a share "
         "1 - read_ratio of operations opens or closes one.",
    params=(
        read_ratio_param(),
        Param("processes", int, 16, "number of processes (one FD table each)", low=1, high=256),
        Param("fds", int, 64, "descriptors per process", low=16, high=4096, log_scale=True),
        key_skew_param(),
        *shard_params(),
        stall_param(),
        read_only_param(),
    ),
    variants=(
        Variant("rwlock", op_rwlock, "one reader-writer lock per process table; closes free at once"),
        Variant("sharded", op_sharded, "DashMap-style: a reader-writer lock per shard of all descriptors"),
        Variant("epoch", op_epoch, "lock-free lookups inside an epoch pin; CAS open/close; limbo lists"),
        Variant("epoch_early_free", op_epoch_early_free, "epoch that frees closed records at once "
                "(broken on purpose)", broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="waits",
    default_variants=("rwlock", "sharded", "epoch"),
)


# ----------------------------------------------------------------------------- claims

EPOCH_SAYS = "Epoch-based FD lookups are 30-50% faster than a DashMap-style sharded map for hot descriptors."


def _epoch_vs_sharded(table) -> Verdict:
    says = EPOCH_SAYS
    rows = [r for r in table.rows if r["experiment"] == "fd_table" and not r.get("oversubscribed")]
    threads = sorted({r["threads"] for r in rows if r["variant"] == "epoch"}
                     & {r["threads"] for r in rows if r["variant"] == "sharded"})
    if not threads:
        return Verdict(says, "needs epoch and sharded rows at the same thread count", "not measured",
                       "Run both variants first.")
    parts, gains = [], []
    for t in threads:
        e = median_rate(table, experiment="fd_table", variant="epoch", threads=t)
        s = median_rate(table, experiment="fd_table", variant="sharded", threads=t)
        gains.append(e / s - 1)
        parts.append(f"{t} thread{'s' if t > 1 else ''}: epoch {e / s - 1:+.0%} vs sharded")
    r0 = rows[0]
    measured = "; ".join(parts) + (f" (read_ratio {r0.get('param_read_ratio')}, key_skew "
                                   f"{r0.get('param_key_skew')}, {r0.get('param_processes')} x "
                                   f"{r0.get('param_fds')} descriptors)")
    best = max(gains)
    if min(gains) >= 0.3:
        return Verdict(says, measured, "holds",
                       "Epoch lookups beat the sharded map by at least the claimed margin at every thread count "
                       "measured" + (" (by more than claimed at some)." if best > 0.5 else "."))
    if best > 0.05:
        return Verdict(says, measured, "partly holds",
                       "Epoch lookups are faster, but not by the claimed margin at every thread count: a pin "
                       "costs a full fence, an uncontended reader lock one atomic; the gap grows with the "
                       "number of cores sharing a hot shard's lock line.")
    return Verdict(says, measured, "does not hold",
                   "Epoch lookups were not faster here: with few cores the pin's fence costs about what an "
                   "uncontended shard lock costs.")


# The sharded-slot claims are judged on any experiment with a `sharded` variant and the
# shards / shard_index parameters (process_table and fd_table both have them).
MASK_SAYS = "Power-of-two shard counts pay: the shard index is a mask (one AND) instead of a division."
PROFILE_SAYS = ("Shard counts from the workload profile (high contention: 4x the CPUs, rounded up to a power "
                "of two) suit contended tables.")


def _sharded_rows(table):
    return [r for r in table.rows if r["variant"] == "sharded" and not r.get("oversubscribed")]


def _mask_vs_modulo(table) -> Verdict:
    rows = _sharded_rows(table)
    modes = {r.get("param_shard_index") for r in rows}
    if not {"mask", "modulo"} <= modes:
        return Verdict(MASK_SAYS, "needs sharded rows with shard_index mask and modulo", "not measured",
                       "Sweep shard_index first.")
    exp, t = rows[0]["experiment"], max(r["threads"] for r in rows)
    at = lambda m: median_rate(table, experiment=exp, variant="sharded", threads=t, param_shard_index=m)
    gain = at("mask") / at("modulo") - 1
    measured = f"{exp}, {t} threads, {rows[0].get('param_shards')} shards: mask {gain:+.1%} vs modulo"
    if gain >= 0.05:
        return Verdict(MASK_SAYS, measured, "holds", "The division is on the lookup's critical path and shows.")
    if gain > -0.03:
        return Verdict(MASK_SAYS, measured, "partly holds",
                       "Masking is not slower, but the saving is within noise here: one division (tens of "
                       "cycles) hides behind the atomic read-modify-write of the shard's lock and the record "
                       "loads. It matters for lock-free shards, where the division is most of the work.")
    return Verdict(MASK_SAYS, measured, "does not hold", "Modulo was faster here; rerun with more repeats.")


def _profile_pick(table) -> Verdict:
    rows = _sharded_rows(table)
    counts = sorted({r.get("param_shards") for r in rows if r.get("param_shards") is not None})
    pick = ShardManager.shards("high")
    if len(counts) < 3 or pick not in counts:
        return Verdict(PROFILE_SAYS, f"needs a shards sweep including ShardManager's pick ({pick}) here",
                       "not measured", "Sweep shards first.")
    exp, t = rows[0]["experiment"], max(r["threads"] for r in rows)
    rate = {c: median_rate(table, experiment=exp, variant="sharded", threads=t, param_shards=c) for c in counts}
    rate = {c: v for c, v in rate.items() if v}
    best = max(rate, key=rate.get)
    share = rate[pick] / rate[best]
    measured = (f"{exp}, {t} threads: ShardManager's high-contention pick ({pick} shards) reaches {share:.0%} of "
                f"the best shard count measured ({best}); 1 shard reaches {rate.get(1, float('nan')) / rate[best]:.0%}")
    if share >= 0.9:
        return Verdict(PROFILE_SAYS, measured, "holds",
                       "The profile's count is as good as the best one measured: past a few shards per thread "
                       "the locks stop colliding, and more shards only cost memory.")
    return Verdict(PROFILE_SAYS, measured, "partly holds" if share >= 0.75 else "does not hold",
                   "Another shard count did clearly better here; the profile is a rule of thumb, not a "
                   "measurement of this table.")


CLAIMS = (
    Claim("epoch-fd-lookups", "Tier 2, item 6", EPOCH_SAYS, "fd_table", _epoch_vs_sharded),
    Claim("shard-mask-vs-modulo", "Tier 1, item 5", MASK_SAYS, "process_table", _mask_vs_modulo),
    Claim("shard-profile-high", "Tier 1, item 5", PROFILE_SAYS, "process_table", _profile_pick),
)
