"""The `alloc` experiment: every correct variant passes its self-check on real threads,
the ABA variant is caught (and its tagged twin, same workload, is not), the counts
behind the metrics, the allocator swap and the claims' judges."""
import numpy as np
import pytest

from kernlab.declaration import ParamError
from kernlab.experiments import _alloc_support as S
from kernlab.experiments import alloc as alloc_module
from kernlab.experiments import get
from kernlab.harness import control_block
from kernlab.runner import run, run_trial
from kernlab.tables import ResultTable

CORRECT = ["malloc", "numpy", "pool", "pool_shared", "arena", "stack"]


@pytest.fixture(scope="module")
def alloc():
    return get("alloc")


@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [1, 2])
def test_stress_correct_variants_pass(alloc, variant, threads):
    trial = run_trial(alloc, variant, threads, alloc.resolve_params(), 0.1, sample_every=64)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0
    assert trial.metrics["corrupt"] == 0 and trial.metrics["double_handouts"] == 0


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["malloc", "pool", "arena"])
def test_stress_mixed_sizes_outstanding_buffers_random_release(alloc, variant):
    params = alloc.resolve_params({"sizes": "syscall_mix", "live": 32, "release": "random"})
    trial = run_trial(alloc, variant, 2, params, 0.1)
    assert trial.check.passed, trial.check.detail
    assert 16 <= trial.metrics["bytes_per_op"] <= 65536


@pytest.mark.stress
def test_stress_pool_buffers_cross_threads_through_tiny_caches(alloc):
    """Caches of 2 over 8 buffers a class: every few ops a refill claims buffers another
    thread's flush released. Ownership is checked at each crossing, and after the run
    every owner word must say where its buffer is."""
    params = alloc.resolve_params({"thread_cache": 2, "pool_buffers": 8, "live": 3})
    trial = run_trial(alloc, "pool", 2, params, 0.2)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["double_handouts"] == 0 and 0 < trial.metrics["hit_rate"] <= 1


@pytest.mark.stress
def test_stress_pool_aba_is_caught(alloc, caught):
    trial = caught(lambda: run_trial(alloc, "pool_aba", 2, alloc.resolve_params(), 0.5), 4,
                   "the untagged free list's double hand-out (ABA)")
    assert trial.metrics["double_handouts"] > 0 and "two holders" in trial.check.detail


@pytest.mark.stress
def test_stress_the_tagged_twin_survives_the_same_workload(alloc):
    for _ in range(2):
        trial = run_trial(alloc, "pool_shared", 2, alloc.resolve_params(), 0.5)
        assert trial.check.passed, trial.check.detail


def test_allocator_calls_are_counted_in_the_op(alloc):
    """malloc and numpy call the allocator twice per op (malloc + free); a pool that
    always hits, the arena within its region and the stack never do."""
    metrics = {v: run_trial(alloc, v, 1, alloc.resolve_params(), 0.05).metrics
               for v in ["malloc", "numpy", "pool", "arena", "stack"]}
    assert {v: m["allocs_per_op"] for v, m in metrics.items()} == \
        {"malloc": 2.0, "numpy": 2.0, "pool": 0.0, "arena": 0.0, "stack": 0.0}
    # hits are what was obtained without a malloc call; malloc and numpy have no hit rate
    assert {v: m.get("hit_rate") for v, m in metrics.items()} == \
        {"malloc": None, "numpy": None, "pool": 1.0, "arena": 1.0, "stack": 1.0}


def test_a_bounded_pool_misses_and_falls_back_to_malloc(alloc):
    params = alloc.resolve_params({"pool_buffers": 8, "live": 64})
    trial = run_trial(alloc, "pool", 1, params, 0.05)
    assert trial.check.passed, trial.check.detail
    assert 0 < trial.metrics["hit_rate"] < 1 and trial.metrics["allocs_per_op"] > 0
    assert "rss_growth_per_live_byte" in trial.metrics


def _arena_ops(alloc, params, ops):
    """Thread 0 of a one-thread arena runs ``ops`` ops; returns the state."""
    state = alloc.setup(1, alloc.resolve_params(params))
    for n in range(ops):
        alloc_module.op_arena(control_block(), state, 0, n)
    return state


def test_the_arena_check_replays_a_request_and_finds_a_foreign_write(alloc):
    """The arena keeps no record of its buffers: the end of a request replays the sizes
    and bump decisions to find them. A word overwritten in the request's first buffer
    must be seen when the request ends (4 ops), and nothing before."""
    state = _arena_ops(alloc, {"request_ops": 4, "size": 64}, 3)
    stats, regions = state[2], state[13]
    assert stats[0, S.RELEASED] == 0 and stats[0, S.REQUEST_DONE] == 3
    regions[0, 0] += 1                                # the first buffer's stamp word
    alloc_module.op_arena(control_block(), state, 0, 3)
    assert stats[0, S.RELEASED] == 4 and stats[0, S.CORRUPT] == 1 and stats[0, S.REQUEST_DONE] == 0
    assert state[14][0, 0] == 0                       # the arena was reset


def test_an_unfinished_request_is_replayed_by_the_check(alloc):
    params = {"request_ops": 8, "size": 64}
    state = _arena_ops(alloc, params, 13)             # one whole request, then 5 ops of the next
    check = alloc.check(state, np.array([13]), alloc.resolve_params(params))
    assert check.passed, check.detail
    assert state[2][0, S.DRAINED] == 5 and state[2][0, S.RELEASED] == 8


def test_a_request_that_outgrows_its_region_falls_back_to_malloc_and_is_freed(alloc, monkeypatch):
    monkeypatch.setattr(S, "ARENA_BYTES", 4096)      # 64 buffers of 64 bytes; a request of 100 spills 36
    state = _arena_ops(alloc, {"request_ops": 100, "size": 64}, 280)   # 2 requests, then 80 ops (16 spill)
    stats = state[2]
    assert stats[0, S.MISSES] == stats[0, S.ALLOC_CALLS] == 2 * 36 + 16 and stats[0, S.FREE_CALLS] == 2 * 36
    check = alloc.check(state, np.array([280]), alloc.resolve_params({"request_ops": 100, "size": 64}))
    assert check.passed, check.detail
    assert stats[0, S.DRAINED_HEAP] == 16 and stats[0, S.DRAINED] == 80


def test_a_missing_allocator_is_one_line_naming_the_package(alloc, monkeypatch):
    monkeypatch.setattr(S, "allocator_library", lambda name: None)
    with pytest.raises(ParamError, match="libtcmalloc-minimal4") as e:
        run(alloc, "malloc", 1, 0.05, 1, params={"allocator": "tcmalloc"})
    assert "\n" not in str(e.value)


def test_system_allocator_runs_in_process(alloc):
    assert alloc.child_env(alloc.resolve_params()) is None


@pytest.mark.skipif(S.allocator_library("jemalloc") is None, reason="libjemalloc2 is not installed")
def test_jemalloc_runs_in_a_child_with_ld_preload(alloc):
    result = run(alloc, "malloc", 1, 0.05, 1, params={"allocator": "jemalloc"}, warmup=0.02)
    assert result.check.passed and result.params["allocator"] == "jemalloc"
    assert "libjemalloc" in result.machine["child_env"]["LD_PRELOAD"]
    assert result.median_trial.metrics["allocs_per_op"] == 2.0


def _row(claim_row, variant, rate, allocs, p50, threads=1, **params):
    r = claim_row("alloc", variant, threads, rate, **{"size": 64, "sizes": "fixed", "live": 0, "release": "fifo",
                                                      "request_ops": 16, "allocator": "system", **params})
    r.update({"metric_allocs_per_op": allocs, "lat_p50_ns": p50})
    return r


def test_claims_are_judged_from_the_table(claim_row):
    from kernlab.claims import judge
    table = ResultTable([_row(claim_row, "malloc", 10e6, 2.0, 40.0), _row(claim_row, "pool", 30e6, 0.0, 20.0),
                         _row(claim_row, "arena", 40e6, 0.0, 15.0),
                         _row(claim_row, "malloc", 11.5e6, 2.0, 35.0, allocator="jemalloc")])
    assert judge("pool-allocation-pressure", table).verdict == "holds"
    assert judge("arena-faster", table).verdict == "holds"
    assert judge("jemalloc-faster", table).verdict == "holds"
    slower = ResultTable([_row(claim_row, "malloc", 10e6, 2.0, 40.0),
                          _row(claim_row, "malloc", 9e6, 2.0, 45.0, allocator="jemalloc")])
    assert judge("jemalloc-faster", slower).verdict == "does not hold"
    assert judge("pool-allocation-pressure", ResultTable([])).verdict == "not measured"
