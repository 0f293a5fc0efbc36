"""primitives.rcu, one thread, deterministic: QSBR grace periods (a reclamation never
happens while a reader that could see the object is inside its read section), bounded
pools, and the broken free that does not wait."""
import numpy as np

from kernlab.harness import control_block
from kernlab.primitives import rcu
from kernlab.primitives.records import POISON, whole, write_record


def _table_domain():
    """Two threads, 4 versions of 8 slots, 16 records (0..7 in use: slot k -> record k)."""
    meta, qs, versions, records, vfree, rfree, queue, refs = rcu.make_domain(2, 4, 8, 16, 8)
    versions[0] = np.arange(8)
    for r in range(8):
        write_record(records, r, r, 0, r + 1)
    return meta, qs, versions, records, vfree, rfree, queue, refs


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


def test_reclaim_never_frees_what_a_reader_may_hold():
    meta, qs, versions, records, vfree, rfree, queue, refs = _table_domain()
    ctl = control_block()
    rcu.quiescent(meta, qs, 0)
    rcu.quiescent(meta, qs, 1)
    v = rcu.dereference(meta)                           # thread 1 enters a read section: holds version 0
    assert rcu.publish(meta, v, 1) and rcu.dereference(meta) == 1
    assert rcu.retire(meta, queue, v, 3, ctl)           # version 0 and record 3 replaced
    assert rcu.outstanding(meta) == 1
    rcu.quiescent(meta, qs, 0)                          # the writer itself is quiescent
    assert rcu.reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, 2) == 0
    assert versions[0, 5] == 5 and whole(records, 3)    # thread 1 is still inside
    rcu.quiescent(meta, qs, 1)                          # ... now it has left
    assert rcu.reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, 2) == 1
    assert (versions[0] == POISON).all() and (records[3] == POISON).all() and rcu.outstanding(meta) == 0


def test_free_at_once_poisons_under_a_reader_s_feet():
    """The broken variant's free: no grace period, so a reader still inside sees poison."""
    meta, qs, versions, records, vfree, rfree, queue, refs = _table_domain()
    ctl = control_block()
    v = rcu.dereference(meta)                           # a reader holds version 0 ...
    assert rcu.publish(meta, v, 1)
    assert rcu.free_at_once(meta, versions, records, vfree, rfree, v, 3, ctl)   # ... freed at once
    assert (versions[v] == POISON).all() and (records[3] == POISON).all()
    assert meta[rcu.RECLAIMED] == 1 and rcu.outstanding(meta) == 0 and meta[rcu.LOCK] == 0   # never queued


def test_alloc_gives_up_cleanly_when_no_grace_period_can_end():
    meta, qs, versions, records, vfree, rfree, queue, refs = rcu.make_domain(2, 2, 4, 4, 2)
    ctl = control_block()
    v, r = rcu.alloc(meta, qs, versions, records, vfree, rfree, queue, refs, 0, 2, True, ctl)
    assert v == 1 and r >= 2
    assert rcu.publish(meta, 0, v) and rcu.retire(meta, queue, 0, -1, ctl)
    # thread 1 never announces: the only other buffer cannot be reclaimed; alloc waits, then
    # returns (-1, -1) on stop instead of reusing it.
    assert rcu.alloc(meta, qs, versions, records, vfree, rfree, queue, refs, 0, 2, True,
                     control_block(stopped=True)) == (-1, -1)
    assert versions[0, 0] != POISON


def test_reclaim_reports_a_reference_count_still_held():
    """rcu_refcount's readers count per version; a count left at reclaim means a too-early free."""
    meta, qs, versions, records, vfree, rfree, queue, refs = _table_domain()
    ctl = control_block()
    for t in range(2):
        rcu.quiescent(meta, qs, t)
    assert rcu.publish(meta, 0, 1) and rcu.retire(meta, queue, 0, -1, ctl)
    refs[0, 0] = 1                                      # a reader that never dropped its reference
    for t in range(2):
        rcu.quiescent(meta, qs, t)
    assert rcu.reclaim(meta, qs, versions, records, vfree, rfree, queue, refs, 2) == 1
    assert meta[rcu.BAD_RECLAIM] == 1
