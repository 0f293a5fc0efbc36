"""The `process_table` experiment on real threads with self-checking payloads: the correct
variants must pass, the broken ones must be caught (at their default parameters too);
its claims' verdicts follow the numbers. Short tier by default; --soak for the long one."""
from functools import partial

import numpy as np
import pytest

from kernlab import claims
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.experiments import process_table as PT
from kernlab.primitives.records import poison_record
from kernlab.primitives.shard_manager import ShardManager
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

CORRECT = ["mutex", "rwlock", "sharded", "rcu", "rcu_refcount"]
SMALL = {"read_ratio": 0.9, "table_size": 64}
ATTEMPTS = 6                  # short trials allowed to catch a broken variant (each catches most of the time)


@pytest.fixture(scope="module")
def table():
    return get("process_table")


def _bad_lookups(trial):
    m = trial.metrics
    return m["poison_seen"] + m["torn_seen"] + m["wrong_key_seen"]


@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stress_process_table_correct_variants(table, variant, threads):
    trial = run_trial(table, variant, threads, table.resolve_params(SMALL), 0.15)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0 and trial.metrics["updates"] > 0
    assert trial.metrics["torn_seen"] == trial.metrics["poison_seen"] == 0


@pytest.mark.stress
@pytest.mark.parametrize("params", [{"key_skew": 0.99}, {"table_size": 16, "read_ratio": 0.5},
                                    {"shard_index": "modulo", "shards": 2}])
def test_stress_process_table_shapes(table, params):
    for v in ("sharded", "rcu"):
        trial = run_trial(table, v, 2, table.resolve_params(params), 0.1)
        assert trial.check.passed, (v, trial.check.detail)


@pytest.mark.stress
def test_stress_rcu_with_a_stalled_reader_keeps_garbage_bounded(table):
    trial = run_trial(table, "rcu", 2, table.resolve_params({**SMALL, "stall_us": 2000}), 0.2)
    assert trial.check.passed, trial.check.detail
    m = trial.metrics
    assert m["garbage_max"] <= m["versions_pool"]      # bounded by the fixed pool, never grown
    assert m["writer_wait_ms"] > 0 and m["garbage_series"]   # writers waited; the series was recorded


@pytest.mark.stress
def test_stress_rcu_early_free_is_caught_at_default_params(table):
    """A broken teaching variant must fail at its defaults (no stall, 1 update in 1000):
    it frees the replaced version at once, so readers still inside see poison. The
    correct variants, on the same defaults, pass every time."""
    defaults, details = table.resolve_params({}), []
    for _ in range(ATTEMPTS):
        for correct in ("rcu", "rcu_refcount"):
            trial = run_trial(table, correct, 2, defaults, 0.2)
            assert trial.check.passed, (correct, trial.check.detail)
        trial = run_trial(table, "rcu_early_free", 2, defaults, 0.3)
        if not trial.check.passed:
            assert _bad_lookups(trial) > 0, trial.check.detail   # caught by what the readers saw
            return
        details.append(trial.check.detail)
    pytest.fail(f"freeing without a grace period went unnoticed in {ATTEMPTS} runs: {details}")


@pytest.mark.stress
def test_stress_rcu_early_free_is_caught_with_a_stalled_reader(table, caught):
    params = table.resolve_params({**SMALL, "stall_us": 1000})
    trial = caught(lambda: run_trial(table, "rcu_early_free", 2, params, 0.2), 3,
                   "reclaiming without a grace period")
    assert _bad_lookups(trial) > 0


@pytest.mark.stress
def test_stress_unsync_is_caught_under_updates(table, caught):
    params = table.resolve_params({"table_size": 16, "read_ratio": 0.5})
    caught(lambda: run_trial(table, "unsync", 2, params, 0.2), 5, "unsynchronized updates")


@pytest.mark.stress
def test_stress_unsync_read_only_is_exact(table):
    assert run_trial(table, "unsync", 2, table.resolve_params({"read_only": True}), 0.05).check.passed


@pytest.mark.parametrize("bad, message", [
    ({"shards": 3}, r"parameter 'shards' must be one of 1, 2, 4.*got 3"),
    ({"read_ratio": 0.3}, r"parameter 'read_ratio' must be a number in \[0.5, 0.99999\], got 0.3"),
    ({"table_size": 8}, r"parameter 'table_size' must be an integer in \[16, 1,000,000\]"),
    ({"shard_index": "div"}, r"parameter 'shard_index' must be one of mask, modulo"),
])
def test_bad_parameters_get_one_clear_error(table, bad, message):
    with pytest.raises(ParamError, match=message):
        table.resolve_params(bad)


def test_the_checker_catches_a_lost_update_and_a_poisoned_record(table):
    values = table.resolve_params({"table_size": 16})
    ops = np.array([0, 0])
    st = list(table.setup(2, values))
    assert table.check(tuple(st), ops, values).passed
    st[PT.APPLIED][3] = 1                                 # an update committed but not in the table
    c = table.check(tuple(st), ops, values)
    assert not c.passed and "1 pids whose record does not replay" in c.detail and "first pid 3" in c.detail
    st = list(table.setup(2, values))
    poison_record(st[PT.RECORDS], 5)                      # a record freed while still published
    c = table.check(tuple(st), ops, values)
    assert not c.passed and "1 broken records in the final table (first pid 5)" in c.detail


@pytest.mark.soak
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_process_table(table, variant, threads):
    for params in (SMALL, {"read_ratio": 0.999, "table_size": 100_000, "key_skew": 0.99},
                   {**SMALL, "stall_us": 5000}):
        trial = run_trial(table, variant, threads, table.resolve_params(params), 3.0)
        assert trial.check.passed, (params, trial.check.detail)


# ----------------------------------------------------------------------------- claim verdicts

def test_sharding_claim_verdicts_follow_the_numbers(claim_row):
    _row = partial(claim_row, "process_table")
    pick = ShardManager.shards("high")
    mask = lambda m, o: claims.judge("shard-mask-vs-modulo", ResultTable(
        [_row("sharded", 2, m, shard_index="mask"), _row("sharded", 2, o, shard_index="modulo")]))
    assert mask(110.0, 100.0).verdict == "holds" and mask(101.0, 100.0).verdict == "partly holds"
    assert mask(80.0, 100.0).verdict == "does not hold"
    assert claims.judge("shard-mask-vs-modulo", ResultTable([])).verdict == "not measured"
    sweep = lambda rates: claims.judge("shard-profile-high", ResultTable(
        [_row("sharded", 2, r, shards=s) for s, r in rates.items()]))
    assert sweep({1: 10.0, pick: 50.0, 2 * pick: 52.0}).verdict == "holds"
    assert sweep({1: 10.0, pick: 30.0, 2 * pick: 60.0}).verdict == "does not hold"
    assert sweep({1: 10.0, 2 * pick: 60.0}).verdict == "not measured"


def test_rcu_claim_verdicts_follow_the_numbers(claim_row):
    _row = partial(claim_row, "process_table")
    judge = lambda rows: claims.judge("rcu-vs-dashmap-reads", ResultTable(rows))
    assert judge([_row("rcu", 2, 10.0)]).verdict == "not measured"
    assert judge([_row("rcu", 2, 1000.0), _row("sharded", 2, 50.0)]).verdict == "holds"
    assert judge([_row("rcu", 2, 150.0), _row("sharded", 2, 100.0)]).verdict == "partly holds"
    assert judge([_row("rcu", 2, 100.0), _row("sharded", 2, 100.0)]).verdict == "does not hold"
    sweep = lambda at_99, at_90: claims.judge("rcu-read-write-threshold", ResultTable(
        [_row("rcu", 2, at_99, read_ratio=0.99), _row("rwlock", 2, 100.0, read_ratio=0.99),
         _row("rcu", 2, at_90, read_ratio=0.9), _row("rwlock", 2, 100.0, read_ratio=0.9)]))
    assert sweep(150.0, 80.0).verdict == "holds"
    assert sweep(150.0, 120.0).verdict == "partly holds"
    assert sweep(90.0, 80.0).verdict == "does not hold"
    assert claims.judge("rcu-read-write-threshold", ResultTable([_row("rcu", 2, 1.0, read_ratio=0.9)])).verdict \
        == "not measured"
