"""Read-mostly experiments on real threads with self-checking payloads: the correct
variants must pass, the broken ones must be caught. Short tier by default; --soak for
the long one."""
import numpy as np
import numba
import pytest

from kernlab.experiment import ParamError
from kernlab.experiments import get
from kernlab.layout import aligned_zeros, padded_rows
from kernlab.runner import _CTL_LEN, LATENCY_CAPACITY, make_worker, run_trial

CORRECT = ["mutex", "rwlock", "sharded", "rcu", "rcu_refcount"]
SMALL = {"read_ratio": 0.9, "table_size": 64}


@pytest.fixture(scope="module")
def table():
    exp = get("process_table")
    # Compile here: a cold JIT of these workers can take longer than the runner's
    # 10-second start-up limit on a busy 2-core machine.
    for v in exp.variant_names():
        w = make_worker(exp.variant(v).op)
        state = tuple(exp.setup(1, exp.resolve_params(SMALL)))
        w.compile((numba.typeof(aligned_zeros(_CTL_LEN, np.int64)), numba.int64,
                   numba.typeof(padded_rows(1, 8)), numba.typeof(np.zeros((1, LATENCY_CAPACITY), np.int64)),
                   numba.typeof(state)))
    return exp


@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stress_process_table_correct_variants(table, variant, threads):
    trial = run_trial(table, variant, threads, table.resolve_params(SMALL), 0.15)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0 and trial.metrics["updates"] > 0
    assert trial.metrics["torn_seen"] == trial.metrics["poison_seen"] == 0


@pytest.mark.parametrize("params", [{"key_skew": 0.99}, {"table_size": 16, "read_ratio": 0.5},
                                    {"shard_index": "modulo", "shards": 2}])
def test_stress_process_table_shapes(table, params):
    for v in ("sharded", "rcu"):
        trial = run_trial(table, v, 2, table.resolve_params(params), 0.1)
        assert trial.check.passed, (v, trial.check.detail)


def test_stress_rcu_with_a_stalled_reader_keeps_garbage_bounded(table):
    trial = run_trial(table, "rcu", 2, table.resolve_params({**SMALL, "stall_us": 2000}), 0.2)
    assert trial.check.passed, trial.check.detail
    m = trial.metrics
    assert m["garbage_max"] <= m["versions_pool"]      # bounded by the fixed pool, never grown
    assert m["writer_wait_ms"] > 0 and m["garbage_series"]   # writers waited; the series was recorded


def test_stress_rcu_early_free_is_caught(table):
    details = []
    for _ in range(3):
        trial = run_trial(table, "rcu_early_free", 2, table.resolve_params({**SMALL, "stall_us": 1000}), 0.2)
        if not trial.check.passed:
            assert trial.metrics["poison_seen"] + trial.metrics["torn_seen"] + trial.metrics["wrong_key_seen"] > 0
            return
        details.append(trial.check.detail)
    pytest.fail(f"reclaiming without a grace period went unnoticed in 3 runs: {details}")


def test_stress_unsync_is_caught_under_updates(table):
    details = []
    for _ in range(5):
        trial = run_trial(table, "unsync", 2, table.resolve_params({"table_size": 16, "read_ratio": 0.5}), 0.2)
        if not trial.check.passed:
            return
        details.append(trial.check.detail)
    pytest.fail(f"unsynchronized updates went unnoticed in 5 runs: {details}")


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


@pytest.mark.soak
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_soak_process_table(table, variant, threads):
    for params in (SMALL, {"read_ratio": 0.999, "table_size": 100_000, "key_skew": 0.99},
                   {**SMALL, "stall_us": 5000}):
        trial = run_trial(table, variant, threads, table.resolve_params(params), 3.0)
        assert trial.check.passed, (params, trial.check.detail)
