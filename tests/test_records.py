"""primitives.records: self-checking records expose torn and poisoned rows on their own."""
import numpy as np

from kernlab.primitives import records as R


def test_records_detect_torn_and_poisoned_rows():
    rec = np.zeros((2, 4), np.int64)
    R.write_record(rec, 0, 7, 3, 99)
    assert R.read_record(rec, 0, 7)[0] == R.FOUND and R.whole(rec, 0)
    R.write_record(rec, 1, 7, 4, -100)
    assert R.read_record(rec, 1, 7)[0] == R.ABSENT        # a tombstone
    rec[0, 1] = 4                                      # a field from another write: torn
    assert R.read_record(rec, 0, 7)[0] == R.TORN and not R.whole(rec, 0)
    R.poison_record(rec, 1)
    assert R.read_record(rec, 1, 7)[0] == R.POISONED and (rec[1] == R.POISON).all()


def test_a_whole_record_under_another_key_is_a_wrong_key():
    rec = np.zeros((1, 4), np.int64)
    R.write_record(rec, 0, 7, 0, 8)
    outcome, seq, gen = R.read_record(rec, 0, 9)
    assert outcome == R.WRONG_KEY and (seq, gen) == (0, 8)


def test_bad_outcomes_are_tallied_per_thread():
    errors = np.zeros((2, 4), np.int64)
    for outcome in (R.FOUND, R.ABSENT, R.TORN, R.POISONED, R.POISONED, R.WRONG_KEY):
        R.count_error(errors, 1, outcome)
    assert errors[0].sum() == 0
    assert (errors[1, R.ERR_TORN], errors[1, R.ERR_POISON], errors[1, R.ERR_WRONG_KEY]) == (1, 2, 1)
    assert R.error_summary(errors) == {"torn_seen": 1, "poison_seen": 2, "wrong_key_seen": 1}
