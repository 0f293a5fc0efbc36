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


def test_the_fast_whole_test_agrees_with_read_record_on_every_outcome():
    """record_is_whole (the lookups' one-branch fast path) is True exactly when
    read_record says FOUND or ABSENT: over whole, tombstoned, torn, wrong-key, fully and
    partly poisoned records."""
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(200):
        rec = np.zeros((1, 4), np.int64)
        R.write_record(rec, 0, int(rng.integers(0, 50)), int(rng.integers(0, 9)), int(rng.integers(-9, 9)) or 1)
        damage = rng.integers(0, 4)
        if damage == 1:
            rec[0, rng.integers(0, 4)] += 1                          # torn
        elif damage == 2:
            rec[0, rng.integers(0, 4)] = R.POISON                    # partly poisoned
        elif damage == 3:
            R.poison_record(rec, 0)
        rows.append(rec)
    for rec in rows:
        for key in (int(rec[0, R.KEY]), int(rec[0, R.KEY]) + 1, R.POISON):
            outcome = R.read_record(rec, 0, key)[0]
            assert R.record_is_whole(rec, 0, key) == (outcome in (R.FOUND, R.ABSENT)), (rec, key, outcome)
