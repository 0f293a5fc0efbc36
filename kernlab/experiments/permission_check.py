"""The `permission_check` experiment: first-match rule tables, scalar against SIMD.

Every op checks one request (a seeded pool of N_REQUESTS, drawn through a per-thread
key stream skewed by ``key_skew``) against a read-only table of ``rules`` rules, and
records the deciding rule in the thread's own row of ``decisions``; the op's aux count
is the number of rules it compared.

    scalar      array of structs, one rule at a time, early exit (the baseline)
    branchless  structure of arrays, every field of a rule compared without a branch
    simd        structure of arrays in blocks of 16 lanes, each field one vector compare
                (explicit vector IR from atomics: the auto-vectoriser does not vectorise
                an early-exit loop), subject/kind/action packed in one word and compared
                first, first block with a match, then its lowest lane
    indexed     rules pre-sorted into lists by (subject, kind, action): only path and
                port are scanned (applies when those fields come from small known sets)
    any_match   takes a matching rule, the last one: wrong whenever allow and deny
                rules overlap (broken on purpose)

Check: every request that was checked is replayed after the run through the reference
(``_rule_tables.reference_first_matches``, numpy over all rules; a seeded sample also
through the plain-Python ``reference_first_match``, which must agree), and every
thread's recorded rule, and so its allow/deny decision, must equal the reference's.

``isa`` recompiles the run for a narrower vector unit in a child process (numba's
NUMBA_CPU_NAME / NUMBA_CPU_FEATURES); only the widths this CPU has are offered.
"""
import numpy as np
from numba.core import config as numba_config

from ..claims import Claim, Verdict
from ..declaration import Check, Experiment, Param, ParamError, Variant
from ..jit import kernel
from ..layout import aligned_zeros
from ..machine import simd_features
from ..primitives import rules as R
from ..workload import key_streams, next_key
from . import _judging as J
from . import _rule_tables as T

AOS, SOA, OFFSETS, MEMBERS, REQS, STREAMS, DECISIONS, CFG = range(8)
C_RULES, C_KINDS, C_ACTIONS = range(3)
NOT_CHECKED = -2
REPLAY_BUDGET = 60_000           # rule comparisons the Python oracle may spend per check

# isa choice -> (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES, the /proc/cpuinfo flag it needs)
ISAS = {
    "avx512": ("skylake-avx512", "+avx512f,+avx512bw,+avx512vl,+avx512dq,-prefer-256-bit", "avx512bw"),
    "avx2": ("haswell", "+avx2,+avx,+sse4.2,+popcnt,+bmi,+bmi2,+fma,-avx512f", "avx2"),
    "sse4.2": ("nehalem", "+sse4.2,+popcnt,-avx,-avx2,-avx512f", "sse4_2"),
}


def available_isas() -> tuple:
    """``native`` plus every vector width of ISAS this CPU supports (x86 only)."""
    have = set(simd_features())
    return ("native",) + tuple(name for name, (_, _, flag) in ISAS.items() if flag in have)


@kernel
def op_scalar(ctl, state, tid, n):
    q = next_key(state[STREAMS], tid, n)
    rule, examined = R.first_match_scalar(state[AOS], state[CFG][C_RULES], state[REQS], q)
    state[DECISIONS][tid, q] = rule      # the thread's own row, read after join
    return examined


@kernel
def op_branchless(ctl, state, tid, n):
    q = next_key(state[STREAMS], tid, n)
    rule, examined = R.first_match_branchless(state[SOA], state[CFG][C_RULES], state[REQS], q)
    state[DECISIONS][tid, q] = rule
    return examined


@kernel
def op_simd(ctl, state, tid, n):
    q = next_key(state[STREAMS], tid, n)
    rule, examined = R.first_match_simd(state[SOA], state[CFG][C_RULES], state[REQS], q)
    state[DECISIONS][tid, q] = rule
    return examined


@kernel
def op_indexed(ctl, state, tid, n):
    q = next_key(state[STREAMS], tid, n)
    cfg = state[CFG]
    rule, examined = R.first_match_indexed(state[AOS], state[OFFSETS], state[MEMBERS], state[REQS], q,
                                           cfg[C_KINDS], cfg[C_ACTIONS])
    state[DECISIONS][tid, q] = rule
    return examined


@kernel
def op_any_match(ctl, state, tid, n):
    q = next_key(state[STREAMS], tid, n)
    rule, examined = R.last_match(state[AOS], state[CFG][C_RULES], state[REQS], q)
    state[DECISIONS][tid, q] = rule
    return examined


_tables: dict = {}
TABLES_KEPT = 16                 # read-only tables kept between trials (a sweep revisits them)


def _table(params):
    """The read-only part of the state, built once per (rules, match_at, deny_share, seed)."""
    key = (params["rules"], params["match_at"], params["deny_share"], params["seed"])
    if key not in _tables:
        if len(_tables) >= TABLES_KEPT:
            _tables.pop(next(iter(_tables)))
        aos = T.make_rules(params["rules"], params["deny_share"], params["seed"])
        requests = T.make_requests(aos, params["match_at"], params["seed"])
        if not R.fits_packed(requests[:, R.Q_SUBJ], requests[:, R.Q_KIND], requests[:, R.Q_ACT]):
            raise ValueError("requests' subject/kind/action must fit the simd variant's packed word")
        offsets, members = R.build_index(aos, T.SUBJECTS, len(R.KINDS), len(R.ACTIONS))
        aligned = aligned_zeros(aos.shape, np.int32)
        aligned[:] = aos
        _tables[key] = (aligned, R.to_soa(aos), offsets, np.concatenate([members, np.zeros(1, np.int32)]), requests)
    return _tables[key]


def setup(threads, params):
    aos, soa, offsets, members, requests = _table(params)
    streams = key_streams(threads, len(requests), params["key_skew"], seed=params["seed"] + 11)
    decisions = aligned_zeros((threads, len(requests)), np.int32)
    decisions[:] = NOT_CHECKED
    cfg = np.array([len(aos), len(R.KINDS), len(R.ACTIONS)], np.int64)
    return aos, soa, offsets, members, requests, streams, decisions, cfg


def _replayed(state, params):
    """(every checked request, the reference rule of each): by the numpy oracle for all
    of them, and by the plain-Python oracle for a seeded sample, which must agree with it."""
    aos, requests, decisions = state[AOS], state[REQS], state[DECISIONS]
    checked = np.nonzero((decisions != NOT_CHECKED).any(axis=0))[0]
    expected = T.reference_first_matches(aos, requests, checked)
    size = min(len(checked), max(16, REPLAY_BUDGET // max(len(aos), 1)))
    sample = np.random.default_rng(params["seed"] + 3).choice(len(checked), size, replace=False)
    rules = [tuple(r) for r in aos.tolist()]
    disagree = [int(checked[i]) for i in sample
                if T.reference_first_match(rules, tuple(requests[checked[i]].tolist())) != expected[i]]
    return checked, expected, disagree


def check(state, per_thread_ops, params):
    aos, decisions = state[AOS], state[DECISIONS]
    checked, expected, disagree = _replayed(state, params)
    if len(checked) == 0:
        return Check(int(per_thread_ops.sum()) == 0, "no request was checked")
    if disagree:   # the two oracles themselves differ: no verdict on the variant can be trusted
        return Check(False, f"the numpy and Python references disagree on request {disagree[0]}")
    effect = lambda r: "deny" if r < 0 else ("allow" if aos[r, R.EFFECT] == R.ALLOW else "deny")
    got = decisions[:, checked]
    bad = (got != NOT_CHECKED) & (got != expected[None, :])
    wrong = int(bad.sum())
    if wrong == 0:
        return Check(True, f"all {len(checked):,} requests checked replayed through the reference: "
                           "every thread's deciding rule agrees")
    tid, i = (int(x[0]) for x in np.nonzero(bad))
    first = (f"request {checked[i]}: rule {got[tid, i]} ({effect(got[tid, i])}) where the reference's first "
             f"match is rule {expected[i]} ({effect(expected[i])})")
    return Check(False, f"{wrong} decisions differ from the reference over {len(checked):,} requests; e.g. {first}")


def metrics(state, per_thread_ops, per_thread_aux, params):
    """Rules compared per check, and the share of checks allowed (weighted by each
    thread's key stream over the ops it performed)."""
    aos, streams, decisions = state[AOS], state[STREAMS], state[DECISIONS]
    allowed = total = 0
    for tid, ops in enumerate(np.asarray(per_thread_ops, np.int64)):
        cycles, rest = divmod(int(ops), streams.shape[1])
        counts = cycles * np.bincount(streams[tid], minlength=decisions.shape[1]) \
            + np.bincount(streams[tid, :rest], minlength=decisions.shape[1])
        rule = decisions[tid]
        allow = (rule >= 0) & (aos[np.maximum(rule, 0), R.EFFECT] == R.ALLOW)
        allowed += int(counts[allow].sum())
        total += int(counts.sum())
    performed = max(int(np.sum(per_thread_ops)), 1)
    return {"rules_examined_per_check": float(np.sum(per_thread_aux) / performed),
            "allowed_share": allowed / max(total, 1), "isa_applied": float(isa_applied(params.get("isa", "native")))}


def isa_applied(isa: str) -> bool:
    """Whether this process's numba compiles for ``isa`` (a child started with child_env's
    settings does; a runner that ran the trial here, ignoring child_env, does not)."""
    if isa == "native":
        return numba_config.CPU_NAME is None
    return numba_config.CPU_NAME == ISAS[isa][0] and numba_config.CPU_FEATURES == ISAS[isa][1]


def child_env(params):
    """The environment of a child compiled for a narrower vector unit (None: native)."""
    isa = params.get("isa", "native")
    if isa == "native":
        return None
    if isa not in available_isas():
        raise ParamError(f"parameter 'isa': {isa} is not available on this CPU; allowed: "
                         f"{', '.join(available_isas())}")
    name, features, _ = ISAS[isa]
    return {"NUMBA_CPU_NAME": name, "NUMBA_CPU_FEATURES": features}


EXPERIMENT = Experiment(
    name="permission_check",
    title="Permission checks: first-match rule tables, scalar against SIMD",
    help="Each op checks one request against an ordered rule table; the first matching rule decides. "
         "Compare the scalar scan with vector compares over blocks of 16 rules, and with an index.",
    params=(
        Param("rules", int, 64, "rules in the table", low=4, high=4096, log_scale=True),
        Param("match_at", str, "uniform", "where the deciding rule usually sits (none: no rule matches)",
              choices=T.MATCH_AT),
        Param("deny_share", float, 0.5, "share of specific rules that deny (their shadows do the opposite)",
              low=0.0, high=1.0),
        Param("key_skew", float, 0.0, "Zipf skew of which requests are checked (0: uniform)", low=0.0, high=2.0),
        Param("seed", int, 1, "seed of the rule table, the requests and the replay sample", low=0, high=2**31 - 1),
        Param("isa", str, "native", "vector width to compile for (a child process; only what this CPU has)",
              choices=available_isas()),
    ),
    variants=(
        Variant("scalar", op_scalar, "array of structs, rule by rule, early exit"),
        Variant("branchless", op_branchless, "structure of arrays, all fields of a rule without branches"),
        Variant("simd", op_simd, "16 rules per vector compare, packed subject/kind/action first, "
                "first block with a match, lowest lane"),
        Variant("indexed", op_indexed, "rules listed by (subject, kind, action); only path/port scanned"),
        Variant("any_match", op_any_match, "takes the last matching rule, not the first (broken on purpose)",
                broken=True),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="rules_examined",
    child_env=child_env,
    default_variants=("scalar", "branchless", "simd", "indexed"),
)


# ----------------------------------------------------------------------------- claim

SIMD_SAYS = "SIMD permission checks are 4-8x faster than a scalar rule scan for tables of 16+ rules."
SIMD_LOW, SIMD_HIGH, FROM_RULES = 4.0, 8.0, 16


def _simd_speedup(table) -> Verdict:
    says = SIMD_SAYS
    rows = J.experiment_rows(table, "permission_check", ("simd", "scalar"))
    # Prefer the native width and the full scan (no rule matches): the case the claim is about.
    prefer = lambda c: (c.get("isa") in (None, "native"), c.get("match_at") == "none")
    conditions, rs, threads = J.pick_sweep(
        rows, ["match_at", "isa", "deny_share", "key_skew"],
        lambda c, g: (prefer(c), len(J.ratios_over(g, "simd", "scalar", "rules"))) if J.ratios_over(
            g, "simd", "scalar", "rules") else None)
    if not rs:
        return Verdict(says, "no rows with both simd and scalar", "not measured",
                       "Sweep `rules` with the simd and scalar variants (notebook 10).")
    speedups = J.ratios_over(rs, "simd", "scalar", "rules")
    measured = (f"simd / scalar at {J.plural(threads)}, {J.conditions_text(conditions)}: "
                + ", ".join(f"{n:,} rules {s:.1f}x" for n, s in speedups))
    big = [(n, s) for n, s in speedups if n >= FROM_RULES]
    if not big:
        return Verdict(says, measured, "not measured", f"Needs tables of {FROM_RULES} rules or more.")
    inside = [n for n, s in big if s >= SIMD_LOW]
    if len(inside) == len(big):
        beyond = [n for n, s in big if s > SIMD_HIGH]
        return Verdict(says, measured, "holds",
                       f"At least {SIMD_LOW:g}x at every size from {FROM_RULES} rules"
                       + (f"; more than {SIMD_HIGH:g}x at {', '.join(map(str, beyond))} rules." if beyond else "."))
    if inside:
        return Verdict(says, measured, "partly holds",
                       f"{SIMD_LOW:g}x or more only from {min(inside):,} rules: below that the scan ends "
                       "before the vector blocks pay for themselves.")
    return Verdict(says, measured, "does not hold",
                   f"simd never reached {SIMD_LOW:g}x the scalar scan at {FROM_RULES}+ rules here; the scalar "
                   "loop leaves a rule at its first mismatching field, so it examines fewer fields than simd.")


CLAIMS = (
    Claim("simd-permission-checks", "Pattern 10: SIMD permission checks", SIMD_SAYS, "permission_check",
          _simd_speedup),
)
