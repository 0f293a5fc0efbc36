"""The `litmus` experiment: what the memory model lets the hardware do, counted.

Two threads run store buffering (SB) and message passing (MP) litmus tests one
iteration at a time, in lockstep (kernlab.primitives.litmus). Each op is one
iteration; thread 0 counts the outcomes. ``reorders_per_million`` counts the outcome
that sequential consistency forbids (SB: both loads old; MP: flag new, data old). A
variant whose orderings forbid that outcome FAILS its check the first time it is seen:
so a passing seq_cst variant is evidence that the fence works, and the relaxed
variants, which may reorder, show how often the hardware actually does.

Shared state: see ``primitives.litmus.litmus_state``.
"""
import numpy as np

from ..declaration import Check, Experiment, Param, ParamError, Variant
from ..jit import kernel
from ..primitives import litmus as L

# test code (stored by the op, so the check knows what ran) -> (variant, test, forbidden?)
TESTS = {1: ("sb_relaxed", "sb", False), 2: ("sb_acq_rel", "sb", False), 3: ("sb_seq_cst", "sb", True),
         4: ("sb_seq_cst_ops", "sb", True), 5: ("sb_one_fence", "sb", True), 6: ("mp_relaxed", "mp", False),
         7: ("mp_acq_rel", "mp", True)}
REORDER = {"sb": 0, "mp": 2}          # the outcome SC forbids, per test
OUTCOME_NAMES = {"sb": ("old_old", "old_new", "new_old", "new_new"),      # r0 (T0 reads Y) _ r1 (T1 reads X)
                 "mp": ("flag_old_data_old", "flag_old_data_new", "flag_new_data_old", "flag_new_data_new")}
WHAT = {"sb": "both loads saw the old value", "mp": "the flag was new but the data old"}


@kernel
def op_sb_relaxed(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.sb_relaxed(words, tid, n), 1)
    return spins


@kernel
def op_sb_acq_rel(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.sb_acq_rel(words, tid, n), 2)
    return spins


@kernel
def op_sb_seq_cst(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.sb_seq_cst_fence(words, tid, n), 3)
    return spins


@kernel
def op_sb_seq_cst_ops(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.sb_seq_cst_ops(words, tid, n), 4)
    return spins


@kernel
def op_sb_one_fence(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.sb_one_fence(words, tid, n), 5)
    return spins


@kernel
def op_mp_relaxed(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.mp_relaxed(words, tid, n), 6)
    return spins


@kernel
def op_mp_acq_rel(ctl, state, tid, n):
    words, sync, results, counts = state
    spins = L.rendezvous(sync, tid, n, ctl)
    if spins >= 0:
        L.jitter_delay(sync, tid)
        L.record(results, counts, tid, n, L.mp_acq_rel(words, tid, n), 7)
    return spins


def setup(threads, params):
    if threads != 2:
        raise ParamError(f"threads for litmus must be 2 (one per side of the test), got {threads}")
    return L.litmus_state(threads, params["jitter"])


def outcomes(state) -> dict:
    """What a finished trial saw: the test, its outcome counts by name, reorders,
    iterations classified, protocol errors, and whether the reorder is forbidden."""
    counts = state[3][0]
    code = int(counts[L.TEST])
    if code not in TESTS:
        return {"variant": None, "test": None, "iterations": 0, "reorders": 0, "bad": 0, "forbidden": False,
                "counts": {}}
    variant, test, forbidden = TESTS[code]
    by_name = {name: int(counts[i]) for i, name in enumerate(OUTCOME_NAMES[test])}
    return {"variant": variant, "test": test, "iterations": int(counts[:L.OUTCOMES].sum()),
            "reorders": int(counts[REORDER[test]]), "bad": int(counts[L.BAD]), "forbidden": forbidden,
            "counts": by_name}


def check(state, per_thread_ops, params):
    o = outcomes(state)
    if o["variant"] is None or o["iterations"] == 0:
        return Check(True, "no iteration completed (the two threads never met): nothing to judge")
    if o["bad"]:
        return Check(False, f"protocol error: {o['bad']:,} loads returned a value from another iteration")
    rate = o["reorders"] * 1e6 / o["iterations"]
    text = f"{o['reorders']:,} of {o['iterations']:,} iterations ({rate:,.1f} per million): {WHAT[o['test']]}"
    if o["forbidden"] and o["reorders"]:
        return Check(False, f"FORBIDDEN outcome seen: {text}; {o['variant']}'s ordering does not hold here")
    if o["forbidden"]:
        return Check(True, f"forbidden outcome never seen in {o['iterations']:,} iterations: the ordering held")
    return Check(True, f"{text} (allowed by {o['variant'].split('_', 1)[1]} ordering)")


def metrics(state, per_thread_ops, per_thread_aux, params):
    o = outcomes(state)
    out = {"iterations": o["iterations"], "reorders": o["reorders"],
           "reorders_per_million": o["reorders"] * 1e6 / o["iterations"] if o["iterations"] else 0.0,
           "protocol_errors": o["bad"]}
    out.update({f"outcome_{k}": v for k, v in o["counts"].items()})
    if o["test"] == "sb":
        # both loads new: the two halves really ran at the same time (a sign the test can bite)
        out["overlap_per_million"] = o["counts"]["new_new"] * 1e6 / max(o["iterations"], 1)
    return out


EXPERIMENT = Experiment(
    name="litmus",
    title="Memory-ordering litmus tests: store buffering and message passing, caught in the act",
    help="Two threads run one litmus iteration at a time in lockstep; thread 0 counts the outcomes. "
         "reorders_per_million counts the outcome sequential consistency forbids. A variant whose "
         "ordering forbids it fails its check if it is ever seen. Needs exactly 2 threads.",
    params=(
        Param("jitter", int, 64, "random delay rounds (0 .. jitter-1) before each thread's half of an "
              "iteration, so the halves overlap at varying offsets", low=0, high=100_000),
    ),
    variants=(
        Variant("sb_relaxed", op_sb_relaxed, "store buffering, relaxed store then relaxed load"),
        Variant("sb_acq_rel", op_sb_acq_rel, "store buffering, release store then acquire load"),
        Variant("sb_seq_cst", op_sb_seq_cst, "store buffering with a seq_cst fence between store and load"),
        Variant("sb_seq_cst_ops", op_sb_seq_cst_ops, "store buffering with seq_cst store and seq_cst load"),
        Variant("sb_one_fence", op_sb_one_fence, "a seq_cst fence in thread 0 only: does not forbid the "
                "reorder (broken on purpose)", broken=True),
        Variant("mp_relaxed", op_mp_relaxed, "message passing, relaxed stores and loads"),
        Variant("mp_acq_rel", op_mp_acq_rel, "message passing, release flag store / acquire flag load"),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="rendezvous_spins",
    default_variants=("sb_relaxed", "sb_acq_rel", "sb_seq_cst", "mp_relaxed", "mp_acq_rel"),
)


def reorder_summary(table) -> list[dict]:
    """Per variant (and pinning): reorders per million, median and min..max over trials,
    iterations in all, and whether any check failed. Rows from ``kernlab.sweep`` or saved files."""
    groups: dict = {}
    for r in table.rows:
        if r["experiment"] == "litmus":
            groups.setdefault((r["variant"], r.get("pin", "none"), str(r.get("pin_cpus") or "")), []).append(r)
    out = []
    for (variant, pin, cpus), rows in groups.items():
        rates = np.array([r.get("metric_reorders_per_million", 0.0) for r in rows], float)
        out.append({"variant": variant, "pin": pin, "cpus": cpus, "median": float(np.median(rates)),
                    "min": float(rates.min()), "max": float(rates.max()), "trials": len(rows),
                    "iterations": int(sum(r.get("metric_iterations", 0) for r in rows)),
                    "reorders": int(sum(r.get("metric_reorders", 0) for r in rows)),
                    "check_passed": all(r["check_passed"] for r in rows)})
    return out
