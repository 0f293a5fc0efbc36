"""primitives.epoch, one thread, deterministic: a retired record is freed only after the
readers pinned before its unlink have left; limbo lists stay bounded while a reader stalls."""
from kernlab.harness import control_block
from kernlab.primitives import epoch as E
from kernlab.primitives.records import POISON, whole, write_record


def test_epoch_frees_only_after_pinned_readers_leave():
    meta, local, limbo, records, free = E.make_domain(2, 8, 4)
    for r in range(4):
        write_record(records, r, r, 0, r + 1)
    ctl = control_block()
    E.pin(meta, local, 1)                               # thread 1 reads in epoch 0
    assert E.retire(meta, local, limbo, records, free, 0, 2, 2, ctl) >= 0
    for _ in range(10):
        E.collect(meta, local, limbo, records, free, 0, 2, ctl)
    assert meta[E.GLOBAL] <= 1                          # held back by the pinned reader
    assert whole(records, 2) and meta[E.OUTSTANDING] == 1
    E.unpin(local, 1)
    for _ in range(3):
        E.collect(meta, local, limbo, records, free, 0, 2, ctl)
    assert (records[2] == POISON).all() and meta[E.OUTSTANDING] == 0 and meta[E.FREED] == 1


def test_epoch_limbo_is_bounded_while_a_reader_stalls():
    meta, local, limbo, records, free = E.make_domain(2, 4 + E.LIMBO_CAPACITY + 8, 4)
    E.pin(meta, local, 1)                               # a stalled reader, pinned for ever
    ctl, stop = control_block(), control_block(stopped=True)
    for _ in range(E.LIMBO_CAPACITY):
        r = E.alloc_record(free, ctl)
        assert E.retire(meta, local, limbo, records, free, 0, 2, r, ctl) >= 0
    assert meta[E.OUTSTANDING] == E.LIMBO_CAPACITY
    # full: the next retire waits (and on stop gives up) instead of growing memory
    assert E.retire(meta, local, limbo, records, free, 0, 2, E.alloc_record(free, ctl), stop) == -1
    assert meta[E.OUTSTANDING] == E.LIMBO_CAPACITY


def test_free_unpublished_frees_at_once_whoever_is_pinned():
    """Right for a record no reader can hold; on a published one it is the broken free."""
    meta, local, limbo, records, free = E.make_domain(2, 8, 4)
    write_record(records, 1, 1, 0, 2)
    E.pin(meta, local, 1)
    E.free_unpublished(records, free, 1, control_block())
    assert (records[1] == POISON).all() and E.alloc_record(free, control_block()) == 4   # FIFO: reused last
