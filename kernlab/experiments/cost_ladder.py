"""The `cost_ladder` experiment: what one operation costs, rung by rung, on this machine.

Each variant is one rung; ``measure_ladder`` runs them all with the pinning each rung
needs and ``ladder_costs`` turns the table into nanoseconds per operation (median and
min..max over trials), which ``kernlab.plots.ladder_figure`` draws:

    empty               the measuring loop alone (the floor every rung includes)
    clock_read          CLOCK_MONOTONIC through the vDSO (no system call on Linux)
    local_load          LOADS_PER_OP dependent loads in a private 4 KiB ring: L1 hits;
                        the ladder reports one load (the op's time / LOADS_PER_OP)
    uncontended_atomic  fetch_add on a word only this thread touches
    contended_atomic    fetch_add on one word all threads hit: run it with 2 threads on
                        SMT siblings or one CPU ("same core") and on two cores ("other core")
    futex_syscall       FUTEX_WAKE on a word nobody waits on: a real, minimal system call

Per-op time of a row = trial time x threads running at once / ops (two threads pinned to
one CPU take turns: they run one at a time). Every rung includes the loop's own cost,
which the `empty` rung shows. Shared state: the private rings, positions, counters and
futex words (one padded row per thread) and the shared counter (its own line pair).
"""
import numpy as np

from .. import atomics as A
from ..claims import Claim, Verdict
from ..declaration import Check, Experiment, Variant
from ..jit import kernel
from ..layout import aligned_zeros, padded_rows, padded_scalar

LOADS_PER_OP = 16
RING_WORDS = 512                   # 4 KiB per thread: far inside any L1d
RUNGS = ("empty", "clock_read", "local_load", "uncontended_atomic", "contended_atomic_same_core",
         "contended_atomic_other_core", "futex_syscall")


@kernel
def op_empty(ctl, state, tid, n):
    return 0


@kernel
def op_clock_read(ctl, state, tid, n):
    mine = state[1]
    t = A.now_ns()
    if t < mine[tid, 1]:
        mine[tid, 3] += 1         # a monotonic clock went backwards: an error the check reports
    mine[tid, 1] = t
    return 0


@kernel
def op_local_load(ctl, state, tid, n):
    ring, mine = state[0], state[1]
    p = mine[tid, 0]
    for _ in range(LOADS_PER_OP):
        # each load's address is the previous load's value. relaxed: a private ring, no
        # partner; it compiles to one plain `mov`, without the negative-index fix-up that
        # `ring[tid, p]` would put on the dependency chain (three more instructions per load).
        p = A.load_relaxed(ring, (tid, p))
    mine[tid, 0] = p
    return 0


@kernel
def op_uncontended_atomic(ctl, state, tid, n):
    # relaxed: a private count, read after the threads joined.
    A.fetch_add_relaxed(state[1], (tid, 2), 1)
    return 0


@kernel
def op_contended_atomic(ctl, state, tid, n):
    # relaxed: counting needs atomicity only; read after the threads joined.
    A.fetch_add_relaxed(state[2], 0, 1)
    return 0


@kernel
def op_futex_syscall(ctl, state, tid, n):
    if A.futex_wake(state[3], (tid, 0), 1) != 0:
        state[1][tid, 3] += 1     # nobody waits here: anything but 0 woken is an error
    return 0


def setup(threads, params):
    rng = np.random.default_rng(1)
    ring = aligned_zeros((threads, RING_WORDS), np.int64)
    for t in range(threads):
        order = rng.permutation(RING_WORDS)              # one cycle through every word
        ring[t, order] = np.roll(order, -1)
    mine = padded_rows(threads, 4)                       # position, last clock, private count, errors
    futex_words = padded_rows(threads, 1, np.int32)
    return ring, mine, padded_scalar(), futex_words


def check(state, per_thread_ops, params):
    _, mine, shared, _ = state
    performed = int(per_thread_ops.sum())
    counted = int(shared[0]) + int(mine[:, 2].sum())
    if counted not in (0, performed):     # 0: a rung that counts nothing
        return Check(False, f"atomic count {counted:,} but {performed:,} increments performed")
    if not ((mine[:, 0] >= 0) & (mine[:, 0] < RING_WORDS)).all():
        return Check(False, "a pointer chase left its ring")
    if mine[:, 3].sum():
        return Check(False, f"{int(mine[:, 3].sum()):,} errors: a clock read went backwards or a futex wake "
                            "woke someone")
    return Check(True, f"{performed:,} operations; counts exact, chases inside their rings")


EXPERIMENT = Experiment(
    name="cost_ladder",
    title="The cost ladder: a load, an atomic, a contended atomic, a clock read, a system call",
    help="One rung per variant; kernlab.measure_ladder() runs them all with the right pinning and "
         "kernlab.plots.ladder_figure draws nanoseconds per operation. The check fails on a miscount, "
         "a clock that went backwards or a futex wake that woke someone.",
    params=(),
    variants=(
        Variant("empty", op_empty, "the measuring loop alone: the floor every rung includes"),
        Variant("clock_read", op_clock_read, "read CLOCK_MONOTONIC (vDSO, no system call)"),
        Variant("local_load", op_local_load, f"{LOADS_PER_OP} dependent loads in a private 4 KiB ring (L1 hits)"),
        Variant("uncontended_atomic", op_uncontended_atomic, "fetch_add on a private word"),
        Variant("contended_atomic", op_contended_atomic, "fetch_add on one word every thread hits"),
        Variant("futex_syscall", op_futex_syscall, "FUTEX_WAKE with no waiter: a minimal system call"),
    ),
    setup=setup,
    check=check,
    default_variants=("empty", "clock_read", "local_load", "uncontended_atomic", "contended_atomic"),
)


# ----------------------------------------------------------------------------- the ladder

def ladder_pairs() -> dict:
    """CPU pairs for the contended rungs: ``same_core`` (SMT siblings, else one CPU twice,
    where the threads take turns) and ``other_core`` (two CPUs on different cores, of one
    package when possible); None where the machine has no such pair."""
    from ..machine import cpu_topology
    topo = cpu_topology()
    siblings = next(([t["cpu"], s] for t in topo for s in t["smt_siblings"] if s != t["cpu"]), None)
    first = topo[0]
    elsewhere = [t for t in topo if (t["package"], t["core"]) != (first["package"], first["core"])]
    near = [t for t in elsewhere if t["package"] == first["package"]] or elsewhere
    other = [first["cpu"], near[0]["cpu"]] if near else None
    return {"same_core": siblings or [first["cpu"], first["cpu"]], "other_core": other}


def measure_ladder(duration: float = 0.2, repeats: int = 5, cancel=None):
    """Run every rung (single-thread rungs pinned to one CPU) and return a ResultTable
    whose rows carry a ``rung`` column."""
    from ..atomics import HAVE_FUTEX
    from ..runner import run  # lazily: the registry imports this module
    from ..tables import ResultTable
    pairs = ladder_pairs()
    solo = [pairs["same_core"][0]]
    plan = [("empty", "empty", solo), ("clock_read", "clock_read", solo), ("local_load", "local_load", solo),
            ("uncontended_atomic", "uncontended_atomic", solo),
            ("contended_atomic_same_core", "contended_atomic", pairs["same_core"])]
    if pairs["other_core"]:
        plan.append(("contended_atomic_other_core", "contended_atomic", pairs["other_core"]))
    if HAVE_FUTEX:
        plan.append(("futex_syscall", "futex_syscall", solo))
    table = ResultTable()
    for rung, variant, cpus in plan:
        result = run(EXPERIMENT, variant, len(cpus), duration=duration, repeats=repeats, sample_every=0,
                     pin=cpus, cancel=cancel)
        start = len(table.rows)
        table.add(result)
        for row in table.rows[start:]:
            row["rung"] = rung
    return table


def _ns_per_op(row) -> float:
    cpus = row.get("pin_cpus") or []
    at_once = len(set(cpus)) if cpus else min(row["threads"], row.get("usable_cores") or row["threads"])
    ns = row["duration_s"] * 1e9 * at_once / max(row["ops"], 1)
    return ns / LOADS_PER_OP if row["variant"] == "local_load" else ns


def ladder_costs(table) -> list[dict]:
    """``[{"rung", "median_ns", "min_ns", "max_ns", "trials", "cpus", "checks_passed"}]``
    per rung, cheapest first; per-op time as the module docstring says, one load for
    ``local_load``."""
    groups: dict = {}
    for r in table.rows:
        if r["experiment"] == "cost_ladder":
            groups.setdefault(r.get("rung") or r["variant"], []).append(r)
    out = []
    for rung, rows in groups.items():
        ns = np.array([_ns_per_op(r) for r in rows])
        out.append({"rung": rung, "median_ns": float(np.median(ns)), "min_ns": float(ns.min()),
                    "max_ns": float(ns.max()), "trials": len(rows), "cpus": rows[0].get("pin_cpus"),
                    "checks_passed": all(r["check_passed"] for r in rows)})
    return sorted(out, key=lambda c: c["median_ns"])


# ----------------------------------------------------------------------------- claims

L1_SAYS = "An L1 cache hit costs about 1 ns (the L1 half of the catalogue's 'L1 1 ns vs DRAM 100 ns')."
CONTENTION_SAYS = "A mediocre algorithm with zero contention outperforms a perfect algorithm with high contention."


def _costs(table) -> dict:
    return {c["rung"]: c for c in ladder_costs(table)}


def _l1_hit(table) -> Verdict:
    load = _costs(table).get("local_load")
    if load is None:
        return Verdict(L1_SAYS, "no local_load rung in the table", "not measured", "Run the cost ladder first.")
    ns = load["median_ns"]
    measured = (f"one dependent L1 load: {ns:.2f} ns (median of {load['trials']}, "
                f"{load['min_ns']:.2f}..{load['max_ns']:.2f})")
    why = (" The DRAM half is not on this ladder: the `memory-hierarchy-latency` claim judges it "
           "(notebook on prefetching and the memory hierarchy).")
    if 1 / 3 <= ns <= 3:
        return Verdict(L1_SAYS, measured, "holds", "An L1 hit is a few cycles, about a nanosecond." + why)
    return Verdict(L1_SAYS, measured, "does not hold",
                   f"An L1 hit took {ns:.2f} ns here, not within 3x of 1 ns." + why)


def _zero_contention(table) -> Verdict:
    costs = _costs(table)
    free, hot = costs.get("uncontended_atomic"), costs.get("contended_atomic_other_core")
    if free is None or hot is None:
        return Verdict(CONTENTION_SAYS, "needs the uncontended atomic and the contended atomic on two cores",
                       "not measured", "Run the cost ladder on a machine with at least two cores.")
    ratio = hot["median_ns"] / free["median_ns"]
    measured = (f"a contended atomic across cores {hot['median_ns']:.1f} ns vs an uncontended one "
                f"{free['median_ns']:.1f} ns: {ratio:.1f}x")
    if ratio >= 2:
        return Verdict(CONTENTION_SAYS, measured, "holds",
                       f"An algorithm may do {ratio:.0f}x the atomic work on lines nobody shares and still beat "
                       "one contended operation: removing contention outweighs cleverness (the ladder measures "
                       "one operation; whole algorithms are judged by `contention-beats-algorithm`).")
    if ratio >= 1.2:
        return Verdict(CONTENTION_SAYS, measured, "partly holds",
                       "Contention costs something here, but less than two uncontended operations.")
    return Verdict(CONTENTION_SAYS, measured, "does not hold", "The contended atomic was not slower here.")


CLAIMS = (
    Claim("l1-hit-1ns", "Design Principles: Cache Efficiency", L1_SAYS, "cost_ladder", _l1_hit),
    Claim("zero-contention-ladder", "Design Principles: Contention and Scaling", CONTENTION_SAYS, "cost_ladder",
          _zero_contention),
)
