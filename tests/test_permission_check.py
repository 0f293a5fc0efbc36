"""The `permission_check` experiment on real threads: every correct variant's decisions
equal the Python reference's, the broken any_match is caught at its defaults; the
metrics count what each variant examined; the simd op is vector code and the scalar op
is not (read from the assembly); the isa parameter maps to numba's CPU settings."""
import platform

import numpy as np
import pytest

from kernlab import claims
from kernlab.codeview import op_code, op_function, vector_summary
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.experiments import permission_check as PC
from kernlab.machine import usable_cores
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

CORES = usable_cores()
CORRECT = ["scalar", "branchless", "simd", "indexed"]
X86 = platform.machine().lower() in ("x86_64", "amd64")

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.fixture(scope="module")
def exp():
    return get("permission_check")


@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads, params", [(1, {}), (2, {"match_at": "none", "rules": 100}),
                                             (CORES + 1, {"match_at": "first", "key_skew": 0.99, "rules": 37})])
def test_stress_correct_variants_decide_like_the_reference(exp, variant, threads, params):
    trial = run_trial(exp, variant, threads, exp.resolve_params(params), 0.1)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0


@pytest.mark.stress
def test_stress_any_match_is_caught_at_its_defaults(exp, caught):
    trial = caught(lambda: run_trial(exp, "any_match", 2, exp.resolve_params(), 0.1), 3,
                   "any_match's last-match decisions")
    assert "differ from the reference" in trial.check.detail


def test_the_check_fails_on_a_wrong_recorded_rule(exp):
    params = exp.resolve_params({"rules": 16})
    trial = run_trial(exp, "scalar", 1, params, 0.05)
    assert trial.check.passed
    state = exp.setup(1, params)
    state[PC.DECISIONS][0, :] = 3          # every request "decided" by rule 3
    assert not exp.check(state, np.array([1]), params).passed


def test_every_decision_is_checked_not_a_sample(exp):
    from kernlab.experiments import _rule_tables as T
    params = exp.resolve_params({"rules": 1024, "match_at": "none"})     # the Python oracle samples ~60 here
    state = exp.setup(2, params)
    aos, requests = state[PC.AOS], state[PC.REQS]
    everything = np.arange(len(requests))
    right = T.reference_first_matches(aos, requests, everything)
    rules = [tuple(r) for r in aos.tolist()]
    assert all(T.reference_first_match(rules, tuple(requests[q].tolist())) == right[q]   # the two oracles agree
               for q in everything[::37])
    state[PC.DECISIONS][:] = right
    assert exp.check(state, np.array([1, 1]), params).passed
    for tid, q in ((0, 0), (1, len(requests) - 1), (1, len(requests) // 2 + 1)):   # one wrong decision anywhere
        state[PC.DECISIONS][tid, q] = right[q] + 1
        result = exp.check(state, np.array([1, 1]), params)
        assert not result.passed and "1 decisions differ" in result.detail and f"request {q}:" in result.detail
        state[PC.DECISIONS][tid, q] = right[q]


def test_rules_examined_per_check(exp):
    """A full scan (no rule matches) examines every rule; simd whole blocks; indexed only
    the rules listed under the request's (subject, kind, action)."""
    params = exp.resolve_params({"rules": 40, "match_at": "none"})
    examined = {v: run_trial(exp, v, 1, params, 0.05).metrics["rules_examined_per_check"] for v in CORRECT}
    assert examined["scalar"] == examined["branchless"] == 40
    assert examined["simd"] == 48
    assert examined["indexed"] < 40
    trial = run_trial(exp, "scalar", 1, exp.resolve_params({"rules": 40}), 0.05)
    assert 0.0 < trial.metrics["allowed_share"] < 1.0


@pytest.mark.skipif(not X86, reason="the packed-compare check reads x86-64 assembly")
def test_simd_is_vector_code_and_scalar_is_not():
    simd = vector_summary(op_function(op_code("permission_check", "simd")))
    scalar = vector_summary(op_function(op_code("permission_check", "scalar")))
    assert simd["packed_compares"] >= 7 and simd["vectorised"], simd
    assert scalar["packed_compares"] == 0 and not scalar["vectorised"], scalar


def test_isa_maps_to_numba_cpu_settings_and_refuses_what_is_missing(exp, monkeypatch):
    assert PC.child_env({"isa": "native"}) is None
    assert PC.isa_applied("native") and not any(PC.isa_applied(i) for i in PC.available_isas()[1:])
    for isa in PC.available_isas()[1:]:
        env = PC.child_env({"isa": isa})
        assert env["NUMBA_CPU_NAME"] == PC.ISAS[isa][0] and env["NUMBA_CPU_FEATURES"]
    monkeypatch.setattr(PC, "available_isas", lambda: ("native",))
    with pytest.raises(ParamError, match="isa"):
        PC.child_env({"isa": "avx2"})
    with pytest.raises(ParamError, match="isa"):
        exp.resolve_params({"isa": "neon-512"})


def test_the_claim_is_judged_from_the_table(claim_row):
    rows = []
    for n, speedup in [(4, 1.5), (16, 3.0), (64, 5.0), (1024, 6.0)]:
        rows += [claim_row("permission_check", "scalar", 1, 1e6, rules=n, match_at="none"),
                 claim_row("permission_check", "simd", 1, speedup * 1e6, rules=n, match_at="none")]
    verdict = claims.judge("simd-permission-checks", ResultTable(rows))
    assert verdict.verdict == "partly holds" and "from 64 rules" in verdict.why
    empty = claims.judge("simd-permission-checks", ResultTable([]))
    assert empty.verdict == "not measured"


@pytest.mark.skipif(len(PC.available_isas()) < 2, reason="no narrower vector width than native on this CPU")
def test_a_narrower_isa_runs_compiled_for_it_in_a_child():
    """The runner honours child_env: the trial ran in a process whose numba compiled for
    the narrowest width offered (the metric isa_applied is computed in that process)."""
    import kernlab
    narrow = PC.available_isas()[-1]
    result = kernlab.run("permission_check", "simd", 1, duration=0.05, repeats=1,
                         params={"rules": 64, "isa": narrow})
    assert result.check.passed, result.check.detail
    assert result.median_trial.metrics["isa_applied"] == 1.0
    assert result.machine["child_env"]["NUMBA_CPU_NAME"] == PC.ISAS[narrow][0]
