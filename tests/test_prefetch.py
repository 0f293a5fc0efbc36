"""The `prefetch` experiment: every walk's sum equals the replayed sum (threads, sizes,
record widths), the check catches a wrong sum or a wrong record, big tables are refused
past the limit, and the two claims are judged from tables (nothing measured here)."""
import numpy as np
import pytest

from kernlab import claims
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.experiments import prefetch as PF
from kernlab.machine import usable_cores
from kernlab.primitives import memwalk as M
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

CORES = usable_cores()
VARIANTS = ["sequential", "random", "random_prefetch", "linked_list"]

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.fixture(scope="module")
def exp():
    return get("prefetch")


@pytest.mark.stress
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("threads, params", [(1, {}), (2, {"records": 17, "prefetch_distance": 64}),
                                             (CORES + 1, {"records": 3000, "record_bytes": 256})])
def test_stress_every_walk_sums_to_the_replay(exp, variant, threads, params):
    trial = run_trial(exp, variant, threads, exp.resolve_params(params), 0.08)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0


@pytest.mark.stress
@pytest.mark.parametrize("variant", VARIANTS)
def test_several_records_per_op_are_all_walked_and_counted(exp, variant):
    params = exp.resolve_params({"records": 100, "records_per_op": 7})
    trial = run_trial(exp, variant, 2, params, 0.05)
    assert trial.check.passed, trial.check.detail
    assert (trial.per_thread_aux == 7 * trial.per_thread_ops).all()
    state = exp.setup(1, params)                     # one op's worth short: the replay disagrees
    state[PF.WALKERS][0, PF.KIND] = PF.SEQUENTIAL
    state[PF.WALKERS][0, M.SUM] = M.expected_sum(state[PF.RECORDS][:, M.VALUE], 0, 7 * 3 - 1)
    assert not exp.check(state, np.array([3]), params).passed
    state[PF.WALKERS][0, M.SUM] += state[PF.RECORDS][(7 * 3 - 1) % 100, M.VALUE]
    assert exp.check(state, np.array([3]), params).passed


def test_the_check_catches_a_wrong_sum_and_a_wrong_record(exp):
    params = exp.resolve_params({"records": 64})
    state = exp.setup(2, params)
    ops = np.array([5, 70])
    for tid, steps in enumerate(ops):      # walk by hand: the sums the kernels would reach
        state[PF.WALKERS][tid, PF.KIND] = PF.RANDOM
        start = int(state[5][tid])
        state[PF.WALKERS][tid, M.SUM] = M.expected_sum(state[PF.RECORDS][state[PF.ORDER], M.VALUE], start, steps)
    assert exp.check(state, ops, params).passed
    state[PF.WALKERS][1, PF.KIND] = PF.SEQUENTIAL     # the same sum read as another walk
    assert not exp.check(state, ops, params).passed


def test_expected_sum_wraps_around():
    values = np.arange(1, 6)
    assert M.expected_sum(values, 3, 4) == 4 + 5 + 1 + 2
    assert M.expected_sum(values, 0, 12) == 2 * 15 + 1 + 2


def test_linked_list_follows_the_random_order():
    records, order = M.build_table(50, 64, 9)
    r, seen = order[0], []
    for _ in range(50):
        seen.append(r)
        r = records[r, M.NEXT]
    assert seen == order.tolist() and r == order[0]


def test_tables_past_the_limit_are_refused_in_one_line(exp):
    too_big = exp.resolve_params({"records": 1 << 26, "record_bytes": 1024})
    with pytest.raises(ParamError, match="parameter 'records'"):
        exp.setup(1, too_big)


def _sweep(claim_row, variant, ns_by_records, record_bytes=64, **extra):
    return [claim_row("prefetch", variant, 1, 1e9 / ns, records=n, record_bytes=record_bytes, **extra)
            for n, ns in ns_by_records.items()]


def test_claims_read_only_rows_of_one_record_per_op(claim_row):
    """ops_per_sec is records per second only at records_per_op 1: batched rows are left out."""
    rows = _sweep(claim_row, "linked_list", {128: 2.0, 1 << 24: 90.0}, records_per_op=64)
    assert claims.judge("memory-hierarchy-latency", ResultTable(rows)).verdict == "not measured"


def test_prefetch_claim_says_where_it_starts_to_hold(claim_row):
    rows = _sweep(claim_row, "random", {128: 2.0, 1 << 16: 5.0, 1 << 24: 20.0}, prefetch_distance=16) \
        + _sweep(claim_row, "random_prefetch", {128: 2.1, 1 << 16: 4.9, 1 << 24: 14.0}, prefetch_distance=16)
    verdict = claims.judge("prefetch-process-maps", ResultTable(rows))
    assert verdict.verdict == "partly holds" and f"{1 << 24:,} records" in verdict.why
    assert claims.judge("prefetch-process-maps", ResultTable([])).verdict == "not measured"


def test_latency_claim_reads_the_staircase_against_the_caches(claim_row):
    caches = {"caches": {"L1d": "32K", "L2": "1024K", "L3": "32M"}}
    rows = _sweep(claim_row, "linked_list", {64: 1.2, 1 << 14: 4.0, 1 << 24: 95.0})
    assert claims.judge("memory-hierarchy-latency", ResultTable(rows, [caches])).verdict == "holds"
    short = _sweep(claim_row, "linked_list", {64: 1.2, 1 << 16: 4.0})
    assert claims.judge("memory-hierarchy-latency", ResultTable(short, [caches])).verdict == "not measured"
    slow = _sweep(claim_row, "linked_list", {64: 1.5, 1 << 24: 290.0})
    assert claims.judge("memory-hierarchy-latency", ResultTable(slow, [caches])).verdict == "partly holds"


def test_the_staircase_draws_ns_per_record_over_bytes_with_the_caches(claim_row):
    from kernlab.plots import distance_figure, rule_table_picture, staircase_figure
    rows = _sweep(claim_row, "linked_list", {64: 1.0, 1 << 20: 80.0}) + _sweep(claim_row, "random", {64: 1.0})
    fig = staircase_figure(ResultTable(rows, [{"caches": {"L1d": "48K", "L1i": "32K", "L2": "2048K"}}]))
    lines = {t.name: t for t in fig.data}
    assert list(lines["linked_list"].x) == [64 * 64, 64 << 20] and list(lines["linked_list"].y) == [1.0, 80.0]
    assert sorted(s.x0 for s in fig.layout.shapes) == [48 << 10, 2048 << 10]      # L1d and L2, not L1i
    ahead = _sweep(claim_row, "random_prefetch", {1 << 20: 50.0}, prefetch_distance=8) \
        + _sweep(claim_row, "random", {1 << 20: 70.0})
    assert list(distance_figure(ResultTable(ahead)).data[0].x) == [8]
    assert len(rule_table_picture(rules=20, lanes=16).layout.shapes) == 32 * 7    # 12 padding lanes
