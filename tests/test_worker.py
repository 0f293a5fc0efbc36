"""kernlab.worker: the measuring loop around every op (stop flag, deadline, op counting,
latency sampling at pseudo-random op indices).

Throwaway experiments are declared here with ops whose cost is known by construction
(a spin of at least so many ns on chosen op indices), so each test asserts what the
sampler saw on *which* ops, not how fast this machine is."""
import numpy as np
import pytest

from kernlab import atomics as A
from kernlab.declaration import Check, Experiment, Variant
from kernlab.harness import DEADLINE, control_block
from kernlab.jit import kernel
from kernlab.layout import padded_rows
from kernlab.runner import LATENCY_CAPACITY, run_trial
from kernlab.worker import AUX, OPS, SAMPLES, T_END, make_worker

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")

STALL_NS = 20_000          # the stalled op: spins at least this long ...
STALL_PERIOD = 1024        # ... on every op with n % 1024 == 1023
BOOKKEEPING_NS = 2_000     # periodic bookkeeping: at least this long (recognisable in a sample) ...
BOOKKEEPING_PERIOD = 16    # ... on every op with n % 16 == the residue in state[1][0]


@kernel
def _spin_at_least(ns):
    t0 = A.now_ns()
    while A.now_ns() - t0 < ns:
        A.cpu_relax()


@kernel
def op_count(ctl, state, tid, n):
    A.fetch_add_relaxed(state[0], 0, 1)   # relaxed: counted after join
    return 0


@kernel
def op_stall_every_1024(ctl, state, tid, n):
    A.fetch_add_relaxed(state[0], 0, 1)
    if n % STALL_PERIOD == STALL_PERIOD - 1:
        _spin_at_least(STALL_NS)
        return 1                          # aux counts the stalls
    return 0


@kernel
def op_bookkeeping_every_16(ctl, state, tid, n):
    A.fetch_add_relaxed(state[0], 0, 1)
    if n % BOOKKEEPING_PERIOD == state[1][0]:
        _spin_at_least(BOOKKEEPING_NS)
        return 1
    return 0


def _setup(threads, params):
    return np.zeros(16, np.int64), np.array([params.get("residue", 0)], np.int64)


def _check(state, per_thread_ops, params):
    # the loop really ran every op it counted
    return Check(int(state[0][0]) == int(per_thread_ops.sum()), f"{int(state[0][0])} ops seen by the op")


PROBE = Experiment(
    "probe", "worker probes", "ops of known cost", (),
    (Variant("count", op_count, "one relaxed add"),
     Variant("stall", op_stall_every_1024, f"stalls >= {STALL_NS} ns on n % {STALL_PERIOD} == {STALL_PERIOD - 1}"),
     Variant("bookkeeping", op_bookkeeping_every_16,
             f"bookkeeping >= {BOOKKEEPING_NS} ns on n % {BOOKKEEPING_PERIOD} == residue")),
    setup=_setup, check=_check)


def _compiled(op, state):
    """The worker for ``op``, compiled (or loaded) before any clock starts: a zero-op call."""
    worker = make_worker(op)
    worker(control_block(started=True, stopped=True), 0, padded_rows(1, 8),
           np.zeros((1, LATENCY_CAPACITY), np.int64), state)
    return worker


def _run_until_deadline(op, state, deadline_s, sample_every=0):
    """One worker on this thread, no stop flag: only the deadline ends it."""
    worker = _compiled(op, state)
    out = padded_rows(1, 8)
    lat = np.zeros((1, LATENCY_CAPACITY), np.int64)
    ctl = control_block(started=True, deadline_s=deadline_s, sample_every=sample_every)
    worker(ctl, 0, out, lat, state)
    return ctl, out, lat


# ----------------------------------------------------------------------------- stop and deadline

def test_make_worker_compiles_one_worker_per_op():
    assert make_worker(op_count) is make_worker(op_count)
    assert make_worker(op_count) is not make_worker(op_stall_every_1024)


def test_worker_obeys_deadline_without_stop_flag(counter):
    """If the runner never raises STOP (it crashed), the deadline still ends the worker."""
    state = tuple(counter.setup(1, counter.resolve_params()))
    ctl, out, _ = _run_until_deadline(counter.variant("atomic").op, state, deadline_s=0.2)
    # it returned by itself (nothing else could stop it), and not before the deadline
    assert out[0, T_END] >= ctl[DEADLINE]
    assert out[0, OPS] > 0 and state[0][0] == out[0, OPS]


def test_spinning_op_gives_up_at_the_deadline(counter):
    """A lock that is never released (holder preempted forever) must not hang the run."""
    state = tuple(counter.setup(1, counter.resolve_params()))
    state[1][0] = 1  # lock held by nobody who will release it
    ctl, out, _ = _run_until_deadline(counter.variant("spinlock").op, state, deadline_s=0.2)
    assert out[0, T_END] >= ctl[DEADLINE]      # it gave up because of the deadline
    assert out[0, OPS] == 0  # the abandoned acquire is not counted as an operation


# ----------------------------------------------------------------------------- sampling

def test_sampling_off_times_no_op():
    trial = run_trial(PROBE, "count", 1, {}, 0.05, sample_every=0)
    assert trial.check.passed and trial.ops > 0
    assert len(trial.latencies_ns) == 0 and trial.sampling_overhead == 0
    _, out, lat = _run_until_deadline(op_count, _setup(1, {}), 0.02, sample_every=0)
    assert out[0, OPS] > 0 and out[0, SAMPLES] == 0 and not lat.any()


def test_sample_every_one_times_every_op():
    state = _setup(1, {})
    _, out, lat = _run_until_deadline(op_count, state, 0.02, sample_every=1)
    ops = int(out[0, OPS])
    assert ops > 0 and out[0, SAMPLES] == ops and state[0][0] == ops
    assert (lat[0, :min(ops, LATENCY_CAPACITY)] > 0).all()


@pytest.mark.parametrize("sample_every", [3, 100, 1000])
def test_sample_every_need_not_be_a_power_of_two(sample_every):
    _, out, _ = _run_until_deadline(op_count, _setup(1, {}), 0.1, sample_every=sample_every)
    ops, samples = int(out[0, OPS]), int(out[0, SAMPLES])
    assert samples >= 400, (ops, samples)
    # gaps are drawn uniformly from 1 .. 2K-1: mean K, so about ops / K samples
    assert ops / samples == pytest.approx(sample_every, rel=0.25)


def test_a_periodic_stall_shows_in_the_tail():
    """An op that stalls on every op with n % 1024 == 1023. Sampled at a fixed stride
    (n & 15 == 0) it would never be timed; sampled at random indices about one sample
    in 1024 lands on it, so it shows in the maximum (and the p99.9 region)."""
    trial = run_trial(PROBE, "stall", 1, {}, 0.3, sample_every=16)
    assert trial.check.passed and trial.per_thread_aux.sum() > 0
    lat = trial.latencies_ns
    stalled = int((lat >= STALL_NS).sum())
    assert len(lat) == LATENCY_CAPACITY, len(lat)    # the ring is full: ~16 of its samples should stall
    assert lat.max() >= STALL_NS and stalled >= 2, (len(lat), stalled)
    # random indices hit the stall at its share of ops (1/1024), not always
    assert stalled / len(lat) < 1 / 64, (len(lat), stalled)
    assert trial.latency["p50"] < STALL_NS


@pytest.mark.parametrize("residue", [0, BOOKKEEPING_PERIOD - 1])
def test_periodic_bookkeeping_lands_in_samples_at_its_share(residue):
    """Bookkeeping on one op in 16. Sampled at n & 15 == 0 it was in every sample
    (residue 0) or in none (residue 15); at random indices it is in about 1/16 of
    them, so it cannot move the median: p50 stays below the bookkeeping's own cost."""
    trial = run_trial(PROBE, "bookkeeping", 1, {"residue": residue}, 0.2, sample_every=16)
    assert trial.check.passed
    lat = trial.latencies_ns
    assert len(lat) >= 1000, len(lat)
    # the bookkeeping op spins >= BOOKKEEPING_NS by construction; a plain op takes ~tens of ns
    share = float((lat >= BOOKKEEPING_NS).mean())
    assert 1 / 32 < share < 1 / 8, share
    assert trial.latency["p50"] < BOOKKEEPING_NS


def test_aux_and_ops_are_what_the_op_returned_and_ran():
    state = _setup(1, {})
    _, out, _ = _run_until_deadline(op_stall_every_1024, state, 0.05, sample_every=16)
    ops = int(out[0, OPS])
    assert state[0][0] == ops and out[0, AUX] == ops // STALL_PERIOD
