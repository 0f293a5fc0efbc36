"""primitives.rwlock, one thread, deterministic: lock states, writer preference, the
uncontended fast paths and the contended paths giving up cleanly on stop."""
import numpy as np

from kernlab.harness import control_block
from kernlab.layout import aligned_zeros
from kernlab.primitives import rwlock as RW


def test_rwlock_readers_share_and_a_writer_excludes_them():
    lock, go, stop = aligned_zeros(16, np.int64), control_block(), control_block(stopped=True)
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
    lock, stop = aligned_zeros(16, np.int64), control_block(stopped=True)
    lock[0] = RW.WAITING | RW.READER                    # a writer waits for one admitted reader
    assert RW.read_lock(lock, 0, stop) == -1            # writer preference: a new reader backs off
    assert lock[0] == RW.WAITING | RW.READER
    assert RW.write_lock(lock, 0, stop) == -1           # a second writer cannot claim the intent
    assert lock[0] == RW.WAITING | RW.READER


def test_uncontended_paths_take_the_lock_at_once_even_when_stopping():
    """The fast paths need no wait: they succeed (0 spins) whatever the control block says."""
    lock, stop = aligned_zeros(16, np.int64), control_block(stopped=True)
    assert RW.write_lock(lock, 0, stop) == 0 and lock[0] == RW.WRITER     # 0 -> WRITER in one CAS
    RW.write_unlock(lock, 0)
    assert RW.read_lock(lock, 0, stop) == 0 and lock[0] == RW.READER
    RW.read_unlock(lock, 0)
    assert lock[0] == 0


def test_a_writer_waiting_for_readers_gives_its_intent_back_on_stop():
    lock = aligned_zeros(16, np.int64)
    lock[0] = RW.READER                                  # one reader inside
    assert RW.write_lock(lock, 0, control_block(deadline_s=0.0)) == -1   # past the deadline: gives up
    assert lock[0] == RW.READER                          # no WAITING left behind to block readers


def test_fast_paths_are_inlined_and_spin_loops_are_not():
    """Contenders pay the same call costs: the uncontended paths are inlined into their
    callers like the other read paths (seqlock, RCU, epoch); only the spin loops are calls."""
    for fast in (RW.read_lock, RW.read_unlock, RW.write_lock, RW.write_unlock):
        assert fast.targetoptions.get("inline") == "always", fast
    for slow in (RW._read_lock_contended, RW._write_lock_contended):
        assert slow.targetoptions.get("inline", "never") == "never", slow
