"""The `lock` experiment: the lock zoo on one shared harness.

Every variant is the same three steps around a different lock (as in Concurrency Kit's
lock regressions): acquire, a critical section that does a *plain* (non-atomic)
read-modify-write of a shared counter with ``critical_section`` rounds of work between
the read and the write, release, then private work outside the lock: as many rounds as
make the ``contention`` share of each thread's work fall inside the lock (one knob from
"nearly always outside" to "always inside"). If two
threads were ever inside together, one increment is lost and an owner word sees an
intruder: the check counts both. ``none`` takes no lock, to prove the check can fail.

Work rounds are ``locks.spin_work``: a loop of relaxed atomic loads of a read-only word,
which LLVM can neither delete nor fold; ``locks.work_ns_per_round()`` says what a round
costs here (a fraction of a nanosecond on current x86).

Shared state (fresh per trial):
    spin      int64: the tas/ttas word (0), the ticket counters (16, 32)
    tail      int64: the MCS queue tail
    nodes     MCS per-thread nodes, one padded row each
    futex     int32: the mutex word
    data      int64: COUNT (plain read-modify-write) and OWNER (tid + 1 inside, 0 outside)
    intruders per-thread count of times the owner word showed someone else inside
    cfg       int64: critical_section, outside rounds (from contention)
    ticket    int64: the ticket lock's NEXT and SERVING, a cache-line pair apart
"""
import numpy as np

from .. import atomics as A
from .. import harness as H
from ..claims import Claim, Verdict, median_rate
from ..declaration import Check, Experiment, Param, Variant
from ..jit import inline_kernel
from ..layout import aligned_zeros, padded_fields, padded_rows, padded_scalar, padded_slots
from ..primitives import locks as L

COUNT, OWNER = 0, 8
CS, OUTSIDE = 0, 1
SPIN_WORD = 0


@inline_kernel
def _critical(data, intruders, cfg, tid):
    """The protected section. Relaxed atomics only keep the compiler from merging the
    accesses; mutual exclusion (or its absence) is entirely the lock's doing."""
    me = tid + 1
    if A.load_relaxed(data, OWNER) != 0:
        A.store_relaxed(intruders, (tid, 0), A.load_relaxed(intruders, (tid, 0)) + 1)
    A.store_relaxed(data, OWNER, me)
    value = A.load_relaxed(data, COUNT)
    L.spin_work(cfg[CS], cfg)
    A.store_relaxed(data, COUNT, value + 1)
    if A.load_relaxed(data, OWNER) != me:
        A.store_relaxed(intruders, (tid, 0), A.load_relaxed(intruders, (tid, 0)) + 1)
    A.store_relaxed(data, OWNER, 0)


@inline_kernel
def _trace_section(ctl, tid, asked, got, held, waited):
    """Trace mode (off: nothing happens): the wait from asking for the lock until it was
    granted (if it had to wait), and the hold from then until ``held``, read just before
    the release: a clock read after it would let the next holder's hold begin first."""
    if waited > 0:
        H.trace_event(ctl, tid, H.WAIT, asked, got)
    H.trace_event(ctl, tid, H.HOLD, got, held)


# Helpers are inline_kernels (see jit: no call passes arrays field by field), and each op
# takes the arrays it needs out of `state` once, at the top.

@inline_kernel
def op_none(ctl, state, tid, n):
    data, intruders, cfg = state[4], state[5], state[6]
    got = H.trace_clock(ctl)
    _critical(data, intruders, cfg, tid)
    _trace_section(ctl, tid, got, got, H.trace_clock(ctl), 0)
    L.spin_work(cfg[OUTSIDE], cfg)
    return 0


@inline_kernel
def op_tas(ctl, state, tid, n):
    word, data, intruders, cfg = state[0], state[4], state[5], state[6]
    asked = H.trace_clock(ctl)
    w = L.tas_acquire(word, SPIN_WORD, ctl)
    if w < 0:
        return -1
    got = H.trace_clock(ctl)
    _critical(data, intruders, cfg, tid)
    held = H.trace_clock(ctl)
    L.tas_release(word, SPIN_WORD)
    _trace_section(ctl, tid, asked, got, held, w)
    L.spin_work(cfg[OUTSIDE], cfg)
    return w


@inline_kernel
def op_ttas(ctl, state, tid, n):
    word, data, intruders, cfg = state[0], state[4], state[5], state[6]
    asked = H.trace_clock(ctl)
    w = L.ttas_acquire(word, SPIN_WORD, ctl)
    if w < 0:
        return -1
    got = H.trace_clock(ctl)
    _critical(data, intruders, cfg, tid)
    held = H.trace_clock(ctl)
    L.ttas_release(word, SPIN_WORD)
    _trace_section(ctl, tid, asked, got, held, w)
    L.spin_work(cfg[OUTSIDE], cfg)
    return w


@inline_kernel
def op_ticket(ctl, state, tid, n):
    ticket, data, intruders, cfg = state[7], state[4], state[5], state[6]
    asked = H.trace_clock(ctl)
    w = L.ticket_acquire(ticket, ctl)
    if w < 0:
        return -1
    got = H.trace_clock(ctl)
    _critical(data, intruders, cfg, tid)
    held = H.trace_clock(ctl)
    L.ticket_release(ticket)
    _trace_section(ctl, tid, asked, got, held, w)
    L.spin_work(cfg[OUTSIDE], cfg)
    return w


@inline_kernel
def op_mcs(ctl, state, tid, n):
    tail, nodes, data, intruders, cfg = state[1], state[2], state[4], state[5], state[6]
    asked = H.trace_clock(ctl)
    w = L.mcs_acquire(tail, nodes, tid, ctl)
    if w < 0:
        return -1
    got = H.trace_clock(ctl)
    _critical(data, intruders, cfg, tid)
    held = H.trace_clock(ctl)
    L.mcs_release(tail, nodes, tid, ctl)   # -1 only when stopping: the op still counts
    _trace_section(ctl, tid, asked, got, held, w)
    L.spin_work(cfg[OUTSIDE], cfg)
    return w


@inline_kernel
def op_mutex(ctl, state, tid, n):
    futex, data, intruders, cfg = state[3], state[4], state[5], state[6]
    asked = H.trace_clock(ctl)
    w = L.mutex_acquire(futex, 0, ctl)
    if w < 0:
        return -1
    got = H.trace_clock(ctl)
    _critical(data, intruders, cfg, tid)
    held = H.trace_clock(ctl)
    L.mutex_release(futex, 0)
    _trace_section(ctl, tid, asked, got, held, w)
    L.spin_work(cfg[OUTSIDE], cfg)
    return w


def outside_rounds(params) -> int:
    """Work rounds outside the lock that put ``contention`` of a thread's work inside it."""
    c = params["contention"]
    return int(round(params["critical_section"] * (1.0 - c) / c))


def setup(threads, params):
    spin = padded_scalar()
    tail = padded_scalar()
    nodes = padded_rows(threads, 2)
    futex = padded_scalar(np.int32)
    data = aligned_zeros(32, np.int64)          # COUNT and OWNER share the protected line
    intruders = padded_slots(threads)
    cfg = np.array([params["critical_section"], outside_rounds(params)], np.int64)
    ticket = padded_fields(2)   # TICKET_NEXT, TICKET_SERVING
    return spin, tail, nodes, futex, data, intruders, cfg, ticket


def check(state, per_thread_ops, params):
    performed = int(per_thread_ops.sum())
    count = int(state[4][COUNT])
    intrusions = int(state[5][:, 0].sum())
    if count == performed and intrusions == 0:
        return Check(True, f"count {count:,} = acquisitions; no two threads ever inside together")
    lost = performed - count
    return Check(False, f"mutual exclusion violated: lost {lost:,} of {performed:,} updates, "
                        f"{intrusions:,} intrusions seen by the owner word")


def metrics(state, per_thread_ops, per_thread_aux, params):
    performed = int(per_thread_ops.sum())
    return {"lost_updates": performed - int(state[4][COUNT]),
            "intrusions": int(state[5][:, 0].sum()),
            "waits_per_acquire": float(per_thread_aux.sum() / max(performed, 1))}


EXPERIMENT = Experiment(
    name="lock",
    title="The lock zoo: TAS, TTAS, ticket, MCS and a futex mutex, with oversubscription",
    help="Threads take one lock, do a plain read-modify-write inside, release and work outside. "
         "Try more threads than cores: spinning locks collapse when a holder is descheduled.",
    params=(
        Param("critical_section", int, 100, "work rounds inside the lock (see locks.work_ns_per_round)",
              low=0, high=1_000_000),
        Param("contention", float, 0.33, "share of each thread's work done inside the lock: between "
              "acquisitions it works critical_section x (1 - contention) / contention rounds outside",
              low=0.01, high=1.0),
    ),
    variants=(
        Variant("none", op_none, "no lock at all: loses updates (broken on purpose)", broken=True),
        Variant("tas", op_tas, "test-and-set: exchange until free; aux counts failed exchanges"),
        Variant("ttas", op_ttas, "test-and-test-and-set with exponential backoff; aux counts failed tries"),
        Variant("ticket", op_ticket, "ticket lock (FIFO); aux counts spins"),
        Variant("mcs", op_mcs, "MCS queue lock, each waiter spins on its own node; aux counts spins"),
        Variant("mutex", op_mutex, "futex mutex: spin briefly, then sleep in the kernel; aux counts sleeps"),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="waits",
    default_variants=("tas", "ttas", "ticket", "mcs", "mutex"),
)


# ----------------------------------------------------------------------------- claim

ATOMIC_VS_LOCK_SAYS = ("Contention, not the algorithm, decides scaling: a lock that threads fight over "
                       "stops scaling, and a spinning lock is hurt most.")


def _oversubscription(table) -> Verdict:
    says = ATOMIC_VS_LOCK_SAYS
    rows = [r for r in table.rows if r["experiment"] == "lock"]
    over = sorted({r["threads"] for r in rows if r["oversubscribed"]})
    fit = sorted({r["threads"] for r in rows if not r["oversubscribed"]})
    if not over or not fit:
        return Verdict(says, "needs runs at and above the core count", "not measured",
                       "Run the lock zoo with thread counts on both sides of the core count.")
    hi, lo = over[-1], fit[-1]
    ratios = {}
    for v in sorted({r["variant"] for r in rows if not r["broken"]}):
        a, b = median_rate(table, experiment="lock", variant=v, threads=lo), \
            median_rate(table, experiment="lock", variant=v, threads=hi)
        if a and b is not None:
            ratios[v] = b / a
    measured = (f"throughput at {hi} threads relative to {lo} threads: "
                + ", ".join(f"{v} {x:.2f}x" for v, x in ratios.items()))
    spinning = {v: x for v, x in ratios.items() if v != "mutex"}
    if not spinning or "mutex" not in ratios:
        return Verdict(says, measured or "no lock ran at both thread counts", "not measured",
                       "Needs the futex mutex and at least one spinning lock at both thread counts.")
    worst = min(spinning, key=spinning.get)
    # Two parts, judged separately: contention stops scaling (some lock loses half its
    # throughput), and spinning is hurt most (the worst spinner below the sleeping mutex).
    collapsed = [v for v, x in ratios.items() if x < 0.5]
    spin_worst = spinning[worst] < ratios["mutex"]
    if collapsed and spin_worst:
        return Verdict(says, measured, "holds",
                       f"{', '.join(collapsed)} lost more than half their throughput above the core count, "
                       f"and the worst spinning lock ({worst}) fell further than the futex mutex: "
                       "a descheduled holder or next-in-line stalls every spinner, while sleepers give "
                       "their core back.")
    if collapsed or spin_worst:
        return Verdict(says, measured, "partly holds",
                       (f"{', '.join(collapsed)} collapsed, but the futex mutex fell as far as any spinner"
                        if collapsed else
                        f"the spinners fell further than the mutex ({worst} worst), but no lock lost half "
                        "its throughput; try a longer critical section or more threads") + ".")
    return Verdict(says, measured, "does not hold",
                   "No lock collapsed above the core count, and the futex mutex fell at least as far as "
                   "every spinning lock.")


CLAIMS = (
    Claim("lock-contention-scaling", "Design principles: Contention and Scaling", ATOMIC_VS_LOCK_SAYS,
          "lock", _oversubscription),
)
