"""The `stats_snapshot` experiment on real threads with self-checking snapshots. Correct
variants must pass; `torn` (a seqlock reader without its retry) and `unsync` must be
caught. Short tier by default; --soak for the long one. (The seqlock itself: test_seqlock.)"""
from functools import partial

import pytest

from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.machine import usable_cores
from kernlab.runner import run_trial

CORRECT = ["locked", "seqlock", "rcu_snapshot"]
SMALL = {"read_ratio": 0.9, "fields": 16}
TWO_CORES = pytest.mark.skipif(usable_cores() < 2, reason="a reader and a writer overlap only on two cores")


@pytest.fixture(scope="module")
def stats():
    return get("stats_snapshot")


# ----------------------------------------------------------------------------- stress

@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stress_stats_correct_variants(stats, variant, threads):
    trial = run_trial(stats, variant, threads, stats.resolve_params(SMALL), 0.15)
    assert trial.check.passed, trial.check.detail
    m = trial.metrics
    assert trial.per_thread_ops.min() > 0 and m["writes"] > 0 and m["reads"] > 0
    assert m["torn_seen"] == m["poison_seen"] == m["backwards_seen"] == 0


@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
def test_stress_stats_every_thread_writes_64_fields(stats, variant):
    trial = run_trial(stats, variant, 2, stats.resolve_params({"read_ratio": 0.5, "fields": 64,
                                                               "writers": "all"}), 0.15)
    assert trial.check.passed, trial.check.detail


@pytest.mark.stress
@TWO_CORES
def test_stress_torn_is_caught(stats, caught):
    params = stats.resolve_params({"read_ratio": 0.5, "fields": 64, "writers": "all"})
    trial = caught(lambda: run_trial(stats, "torn", 2, params, 0.2), 5, "a seqlock reader without retry tearing")
    assert trial.metrics["torn_seen"] > 0 and "torn" in trial.check.detail
    assert trial.metrics["seq_flagged_reads"] > 0     # the sequence knew: a retry would have fixed it


@pytest.mark.stress
@TWO_CORES
def test_stress_unsync_is_caught_under_updates(stats):
    details = []
    for _ in range(5):
        trial = run_trial(stats, "unsync", 2, stats.resolve_params({"read_ratio": 0.5, "fields": 64,
                                                                    "writers": "all"}), 0.2)
        if not trial.check.passed:
            return
        details.append(trial.check.detail)
    pytest.fail(f"unsynchronized snapshots went unnoticed in 5 runs: {details}")


@pytest.mark.stress
@TWO_CORES
def test_stress_seqlock_readers_retry_under_a_busy_writer(stats):
    retries = []
    for _ in range(3):
        trial = run_trial(stats, "seqlock", 2, stats.resolve_params({"read_ratio": 0.5, "fields": 64}), 0.15)
        assert trial.check.passed, trial.check.detail
        retries.append(trial.metrics["retries_per_read"])
        if retries[-1] > 0:
            return
    pytest.fail(f"no seqlock read ever retried while thread 0 wrote half of the time: {retries}")


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["unsync", "seqlock", "locked", "rcu_snapshot"])
def test_stress_read_only_is_exact_and_never_retries(stats, variant):
    trial = run_trial(stats, variant, 2, stats.resolve_params({"read_only": True}), 0.05)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["writes"] == 0
    if variant == "seqlock":
        assert trial.metrics["retries_per_read"] == 0


@pytest.mark.parametrize("bad, message", [
    ({"fields": 1}, r"parameter 'fields' must be an integer in \[2, 64\], got 1"),
    ({"fields": 65}, r"parameter 'fields' must be an integer in \[2, 64\], got 65"),
    ({"writers": "some"}, r"parameter 'writers' must be one of one, all, got 'some'"),
    ({"read_ratio": 1.5}, r"parameter 'read_ratio' must be a number in \[0.5, 0.99999\]"),
])
def test_bad_parameters_get_one_clear_error(stats, bad, message):
    with pytest.raises(ParamError, match=message):
        stats.resolve_params(bad)


@pytest.mark.soak
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_stats(stats, variant, threads):
    for params in (SMALL, {"read_ratio": 0.5, "fields": 64, "writers": "all"}, {"read_ratio": 0.999, "fields": 2}):
        trial = run_trial(stats, variant, threads, stats.resolve_params(params), 3.0)
        assert trial.check.passed, (params, trial.check.detail)


# ----------------------------------------------------------------------------- claim verdicts

def test_seqlock_claim_verdicts_follow_the_numbers(claim_row):
    _row = partial(claim_row, "stats_snapshot")
    from kernlab import claims
    from kernlab.tables import ResultTable
    judge = lambda rows: claims.judge("seqlock-zero-overhead-reads", ResultTable(rows))
    assert judge([_row("seqlock", 1, 10.0)]).verdict == "not measured"
    no_writer = {"fields": 8, "read_only": True}
    holds = judge([_row("seqlock", 1, 95.0, **no_writer), _row("unsync", 1, 100.0, **no_writer),
                   _row("locked", 1, 50.0, **no_writer)])
    assert holds.verdict == "holds" and "0.95x" in holds.measured and "1.90x the locked" in holds.measured
    assert "(fields 8, no writer)" in holds.measured
    assert judge([_row("seqlock", 2, 70.0), _row("unsync", 2, 100.0)]).verdict == "partly holds"
    assert judge([_row("seqlock", 2, 50.0), _row("unsync", 2, 100.0)]).verdict == "does not hold"
