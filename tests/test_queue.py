"""The queue family: rings, the Treiber stack, the Michael-Scott queue and their check.

Single-thread tests drive the ops directly (one thread alternates enqueue and dequeue)
and prove the check can fail on each kind of damage; stress tests run every variant on
real threads; the broken variants must be caught at their default parameters."""
import numpy as np
import pytest

from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.experiments._queue_check import T_COUNT, tally_check
from kernlab.harness import control_block
from kernlab.layout import padded_rows
from kernlab.primitives import lockfree_stack as S
from kernlab.primitives import rings as R
from kernlab.runner import LATENCY_CAPACITY, run_trial
from kernlab.worker import OPS, make_worker

EXP = get("queue")
CORRECT = [v.name for v in EXP.variants if not v.broken]


def _drive(variant, threads=1, tids=(0,), seconds=0.05, **params):
    """Run ``variant``'s compiled worker (the one the stress tests use) as each of
    ``tids`` in turn, in this thread, until the deadline: ``(state, params, ops)``. One
    thread alternates enqueue and dequeue; tid 0 alone of two is a lone producer, which
    fills the structure and then waits on full until the deadline."""
    values = EXP.resolve_params(params)
    state = tuple(EXP.setup(threads, values))
    worker = make_worker(EXP.variant(variant).op)
    ctl = control_block(started=True, deadline_s=seconds)
    out = padded_rows(threads, 8)
    for tid in tids:
        worker(ctl, tid, out, np.zeros((threads, LATENCY_CAPACITY), np.int64), state)
    return state, values, out[:, OPS].copy()


@pytest.mark.parametrize("variant", CORRECT)
def test_one_thread_alternating_passes_and_balances(variant):
    state, values, ops = _drive(variant, batch=3)
    check = EXP.check(state, ops, values)
    assert check.passed, check.detail
    t = tally_check(state)
    n = int(ops[0])       # up to 3 items per op (a ring takes what fits)
    assert n > 0 and (n + 1) // 2 <= t["produced"] <= (n + 1) // 2 * 3
    assert t["left_inside"] == t["produced"] - t["consumed"] and t["consumed"] >= n // 2


def test_the_check_sees_a_lost_a_duplicated_and_a_corrupt_item():
    state, values, ops = _drive("spsc_cached")
    state[2][0, T_COUNT] -= 1                          # one item never arrived
    assert "lost" in EXP.check(state, ops, values).detail
    state[2][0, T_COUNT] += 2                          # ... or arrived twice
    assert "duplicates" in EXP.check(state, ops, values).detail
    state, values, ops = _drive("mpmc", threads=2, capacity=16)   # a lone producer fills the ring
    assert tally_check(state)["left_inside"] == 16 and EXP.check(state, ops, values).passed
    state[5][7, R.SUM] ^= 1
    assert "checksum" in EXP.check(state, ops, values).detail


def test_the_check_sees_items_out_of_order_inside_a_queue_and_a_stack():
    state, values, ops = _drive("mutex_deque", threads=2, capacity=16)     # 16 items inside, FIFO
    assert EXP.check(state, ops, values).passed
    state[5][[1, 2]] = state[5][[2, 1]]
    assert "out of order" in EXP.check(state, ops, values).detail
    state, values, ops = _drive("treiber", threads=2, capacity=16, producers=1)   # newest on top
    assert EXP.check(state, ops, values).passed
    nodes, heads = state[8], state[7]
    top = S.stack_contents(heads, S.DATA, nodes)
    nodes[[top[0] - 1, top[1] - 1], :3] = nodes[[top[1] - 1, top[0] - 1], :3]
    assert "LIFO" in EXP.check(state, ops, values).detail


def test_full_and_empty_waits_end_when_the_run_stops():
    idx, slots = R.make_ring(4)
    stopped = control_block(stopped=True)
    assert R.spsc_available(idx, stopped)[1] == -1 and R.spsc_cached_available(idx, stopped)[1] == -1
    assert R.mpmc_claim_pop(idx, slots, 3, stopped)[0] == -1
    idx[R.TAIL] = 4                                          # full
    assert R.spsc_reserve(idx, 4, stopped)[1] == -1 and R.spsc_cached_reserve(idx, 4, stopped)[1] == -1


def test_the_tag_changes_on_every_push_and_pop():
    heads, nodes, *_ = S.make_stack(4, 1)
    ref, old, new, _ = S.pop(heads, S.FREE, nodes, True, 0, heads)
    assert ref == 1 and S.split_word(new) == (S.split_word(old)[0] + 1, 2)
    S.push(heads, S.FREE, nodes, ref, True)
    assert S.split_word(heads[S.FREE]) == (S.split_word(old)[0] + 2, 1)
    S.pop(heads, S.FREE, nodes, False, 0, heads)
    assert S.split_word(heads[S.FREE])[0] == 0               # untagged: the reference alone


def test_spsc_refuses_anything_but_one_producer_and_one_consumer():
    values = EXP.resolve_params({})
    for threads, producers in ((3, 0), (4, 2)):
        with pytest.raises(ParamError, match=r"variant 'spsc_cached' needs 1 producer \+ 1 consumer") as e:
            run_trial(EXP, "spsc_cached", threads, {**values, "producers": producers}, 0.01)
        assert "\n" not in str(e.value)
    with pytest.raises(ParamError, match="parameter 'producers' must be in"):
        run_trial(EXP, "mpmc", 2, {**values, "producers": 2}, 0.01)
    with pytest.raises(ParamError, match="power of two"):
        EXP.resolve_params({"capacity": 1000})


@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
def test_correct_variants_pass_on_real_threads(variant, no_worker_threads_left):
    values = EXP.resolve_params({"batch": 4, "capacity": 64})
    trial = run_trial(EXP, variant, 2, values, 0.3)
    assert trial.check.passed, trial.check.detail
    assert trial.metrics["items"] > 0 and trial.metrics["e2e_samples"] > 0
    if not variant.startswith("spsc"):                       # two producers, one consumer, oversubscribed
        trial = run_trial(EXP, variant, 3, {**values, "producers": 2}, 0.3)
        assert trial.check.passed, trial.check.detail


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["mpmc_no_seq", "treiber_aba"])
def test_broken_variants_are_caught_at_their_defaults(variant, caught, no_worker_threads_left):
    values = EXP.resolve_params({})
    trial = caught(lambda: run_trial(EXP, variant, 2, values, 1.0), 3, f"{variant} at defaults")
    if trial.metrics["handed_twice"]:      # the first node handed out twice left its evidence
        assert trial.metrics["aba_node"] > 0 and trial.metrics["aba_detector"] in (0, 1)
        assert "handed out twice" in trial.check.detail
