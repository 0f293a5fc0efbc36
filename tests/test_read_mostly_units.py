"""Unit tests of the read-mostly primitives, single-threaded and deterministic:
reader-writer lock states, ShardManager, QSBR grace periods and epoch reclamation
(a reclamation never happens while a reader that could see the object is inside its
read section), self-checking records."""
import numpy as np
import pytest

from kernlab.layout import aligned_zeros
from kernlab.primitives import epoch as E
from kernlab.primitives import rcu
from kernlab.primitives import rwlock as RW
from kernlab.primitives.records import POISON, poison_record, read_record, whole, write_record, FOUND, ABSENT, TORN, POISONED
from kernlab.primitives.shard_manager import ShardManager, WorkloadProfile, next_power_of_two, shard_of, MASK, MODULO
from kernlab.runner import _CTL_LEN, STOP


def _ctl(stopped=False):
    ctl = aligned_zeros(_CTL_LEN, np.int64)
    ctl[STOP] = int(stopped)
    return ctl


# ----------------------------------------------------------------------------- rwlock

def test_rwlock_readers_share_and_a_writer_excludes_them():
    lock, go, stop = aligned_zeros(16, np.int64), _ctl(), _ctl(stopped=True)
    assert RW.read_lock(lock, 0, go) == 0 and RW.read_lock(lock, 0, go) == 0
    assert lock[0] == 2 * RW.READER
    assert RW.write_lock(lock, 0, stop) == -1          # readers inside: the writer gives up on stop
    assert lock[0] == 2 * RW.READER                     # ... and leaves no writer bit behind
    RW.read_unlock(lock, 0)
    RW.read_unlock(lock, 0)
    assert RW.write_lock(lock, 0, go) >= 0 and lock[0] == RW.WRITER
    assert RW.read_lock(lock, 0, stop) == -1            # a reader cannot enter while a writer holds it
    assert lock[0] == RW.WRITER                          # and took its increment back
    RW.write_unlock(lock, 0)
    assert lock[0] == 0


def test_rwlock_waiting_writer_turns_new_readers_away():
    lock, stop = aligned_zeros(16, np.int64), _ctl(stopped=True)
    lock[0] = RW.WAITING | RW.READER                    # a writer waits for one admitted reader
    assert RW.read_lock(lock, 0, stop) == -1            # writer preference: a new reader backs off
    assert lock[0] == RW.WAITING | RW.READER


# ----------------------------------------------------------------------------- ShardManager

@pytest.mark.parametrize("profile, cpus, expected", [
    ("high", 2, 8), ("high", 16, 64), ("high", 3, 16), ("medium", 3, 8), ("medium", 12, 32),
    ("low", 1, 8), ("low", 100, 128), ("high", 200, 512), (WorkloadProfile.HIGH_CONTENTION, 64, 256),
])
def test_shard_counts_follow_the_profiles(profile, cpus, expected):
    n = ShardManager.shards(profile, cpus=cpus)
    assert n == expected and n & (n - 1) == 0 and ShardManager.MIN_SHARDS <= n <= ShardManager.MAX_SHARDS


def test_shard_manager_rejects_bad_input():
    with pytest.raises(ValueError, match="profile must be one of high, medium, low"):
        ShardManager.shards("extreme", cpus=4)
    with pytest.raises(ValueError, match="cpus must be a positive integer"):
        ShardManager.shards("high", cpus=0)
    assert ShardManager.shards() == ShardManager.shards("high")   # this machine's CPUs
    assert [next_power_of_two(n) for n in (1, 2, 3, 5, 8, 9)] == [1, 2, 4, 8, 8, 16]


def test_mask_and_modulo_pick_the_same_shard_for_powers_of_two():
    for shards in (1, 2, 8, 64, 1024):
        picks = [shard_of(k, shards, MASK) for k in range(2000)]
        assert picks == [shard_of(k, shards, MODULO) for k in range(2000)]
        assert 0 <= min(picks) and max(picks) < shards
    counts = np.bincount([shard_of(k, 8, MASK) for k in range(8000)], minlength=8)
    assert counts.min() > 0.8 * counts.mean()        # consecutive keys spread over the shards


# ----------------------------------------------------------------------------- records

def test_records_detect_torn_and_poisoned_rows():
    rec = np.zeros((2, 4), np.int64)
    write_record(rec, 0, 7, 3, 99)
    assert read_record(rec, 0, 7)[0] == FOUND and whole(rec, 0)
    write_record(rec, 1, 7, 4, -100)
    assert read_record(rec, 1, 7)[0] == ABSENT        # a tombstone
    rec[0, 1] = 4                                      # a field from another write: torn
    assert read_record(rec, 0, 7)[0] == TORN and not whole(rec, 0)
    poison_record(rec, 1)
    assert read_record(rec, 1, 7)[0] == POISONED and (rec[1] == POISON).all()


# ----------------------------------------------------------------------------- RCU grace periods

def test_grace_period_waits_for_every_reader():
    meta, qs, *_ = rcu.make_domain(3, 4, 8)
    for t in range(3):
        rcu.quiescent(meta, qs, t)                     # all quiescent before the update
    stamp = rcu.start_grace_period(meta)
    assert not rcu.grace_period_elapsed(qs, stamp, 3)
    rcu.quiescent(meta, qs, 0)
    rcu.quiescent(meta, qs, 2)
    assert not rcu.grace_period_elapsed(qs, stamp, 3)  # thread 1 may still hold the old version
    rcu.quiescent(meta, qs, 1)
    assert rcu.grace_period_elapsed(qs, stamp, 3)


@pytest.mark.parametrize("early", [False, True])
def test_reclaim_never_frees_what_a_reader_may_hold(early):
    meta, qs, versions, records, vfree, rfree, queue, refs = rcu.make_domain(2, 4, 8, 16, 8)
    versions[0] = np.arange(8)
    for r in range(8):
        write_record(records, r, r, 0, r + 1)
    ctl = _ctl()
    rcu.quiescent(meta, qs, 0)
    rcu.quiescent(meta, qs, 1)
    v = rcu.dereference(meta)                           # thread 1 enters a read section: holds version 0
    assert rcu.publish(meta, v, 1) and rcu.dereference(meta) == 1
    assert rcu.retire(meta, queue, v, 3, ctl)           # version 0 and record 3 replaced
    assert rcu.outstanding(meta) == 1
    rcu.quiescent(meta, qs, 0)                          # the writer itself is quiescent
    n = rcu.reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, 2, early)
    if early:                                           # the broken flag frees under the reader's feet
        assert n == 1 and (versions[0] == POISON).all() and (records[3] == POISON).all()
        return
    assert n == 0 and versions[0, 5] == 5 and whole(records, 3)   # thread 1 is still inside
    rcu.quiescent(meta, qs, 1)                          # ... now it has left
    assert rcu.reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, 2, early) == 1
    assert (versions[0] == POISON).all() and (records[3] == POISON).all() and rcu.outstanding(meta) == 0


def test_alloc_gives_up_cleanly_when_no_grace_period_can_end():
    meta, qs, versions, records, vfree, rfree, queue, refs = rcu.make_domain(2, 2, 4, 4, 2)
    ctl = _ctl()
    v, r = rcu.alloc(meta, qs, versions, records, vfree, rfree, queue, refs, 0, 2, True, False, ctl)
    assert v == 1 and r >= 2
    assert rcu.publish(meta, 0, v) and rcu.retire(meta, queue, 0, -1, ctl)
    # thread 1 never announces: the only other buffer cannot be reclaimed; alloc waits, then
    # returns (-1, -1) on stop instead of reusing it.
    assert rcu.alloc(meta, qs, versions, records, vfree, rfree, queue, refs, 0, 2, True, False,
                     _ctl(stopped=True)) == (-1, -1)
    assert versions[0, 0] != POISON


# ----------------------------------------------------------------------------- epochs

def test_epoch_frees_only_after_pinned_readers_leave():
    meta, local, limbo, records, free = E.make_domain(2, 8, 4)
    for r in range(4):
        write_record(records, r, r, 0, r + 1)
    ctl = _ctl()
    E.pin(meta, local, 1)                               # thread 1 reads in epoch 0
    assert E.retire(meta, local, limbo, records, free, 0, 2, 2, False, ctl) >= 0
    for _ in range(10):
        E.collect(meta, local, limbo, records, free, 0, 2, False, ctl)
    assert meta[E.GLOBAL] <= 1                          # held back by the pinned reader
    assert whole(records, 2) and meta[E.OUTSTANDING] == 1
    E.unpin(local, 1)
    for _ in range(3):
        E.collect(meta, local, limbo, records, free, 0, 2, False, ctl)
    assert (records[2] == POISON).all() and meta[E.OUTSTANDING] == 0 and meta[E.FREED] == 1


def test_epoch_limbo_is_bounded_while_a_reader_stalls():
    meta, local, limbo, records, free = E.make_domain(2, 4 + E.LIMBO_CAPACITY + 8, 4)
    E.pin(meta, local, 1)                               # a stalled reader, pinned for ever
    ctl, stop = _ctl(), _ctl(stopped=True)
    for i in range(E.LIMBO_CAPACITY):
        r = E.alloc_record(free, ctl)
        assert E.retire(meta, local, limbo, records, free, 0, 2, r, False, ctl) >= 0
    assert meta[E.OUTSTANDING] == E.LIMBO_CAPACITY
    # full: the next retire waits (and on stop gives up) instead of growing memory
    assert E.retire(meta, local, limbo, records, free, 0, 2, E.alloc_record(free, ctl), False, stop) == -1
    assert meta[E.OUTSTANDING] == E.LIMBO_CAPACITY
