"""primitives.seqlock, one thread, deterministic: whole snapshots, a reader waiting out a
writer, writers excluding each other, and the broken reader whose tear the payload shows."""
import numpy as np

from kernlab.harness import control_block
from kernlab.layout import aligned_zeros
from kernlab.primitives import seqlock as SL


def test_seqlock_read_returns_whole_snapshots_and_waits_out_a_writer():
    seq, data, buf = aligned_zeros(16, np.int64), aligned_zeros(64, np.int64), np.zeros(64, np.int64)
    k = 8
    go, stop = control_block(), control_block(stopped=True)
    for v in (1, 2, 3):
        assert SL.write_begin(seq, 0, go) == 0 and seq[0] % 2 == 1
        SL.write_fields(data, k, v)
        SL.write_end(seq, 0)
    assert seq[0] == 6
    assert SL.read(seq, 0, data, k, buf, go) == 0
    assert buf[0] == 3 and SL.snapshot_consistent(buf, k)
    assert SL.write_begin(seq, 0, go) == 0                # a writer inside: seq odd
    assert SL.read(seq, 0, data, k, buf, stop) == -1      # the reader waits (and gives up on stop)
    assert SL.write_begin(seq, 0, stop) == -1             # a second writer is excluded


def test_torn_read_flags_an_overlap_and_the_payload_exposes_the_tear():
    seq, data, buf = aligned_zeros(16, np.int64), aligned_zeros(64, np.int64), np.zeros(64, np.int64)
    k = 8
    SL.write_fields(data, k, 5)
    assert SL.torn_read(seq, 0, data, k, buf) == 0 and SL.snapshot_consistent(buf, k)
    seq[0] = 1                                           # a writer is half-way: fields 0..3 new, 4..7 old
    for j in range(4):
        data[j] = SL.field_value(6, j)
    assert SL.torn_read(seq, 0, data, k, buf) == 1       # the sequence says retry ...
    assert not SL.snapshot_consistent(buf, k)            # ... and the copy is indeed torn
