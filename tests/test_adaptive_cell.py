"""The `adaptive_cell` experiment (adaptive lock, mutex, seqlock around a multi-word
value) on real threads: no reader ever sees a torn value, and the checker can see one."""
import numpy as np
import pytest

from kernlab import claims
from kernlab.declaration import ParamError
from kernlab.experiments import adaptive_cell as AC
from kernlab.experiments import get
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["adaptive", "mutex", "seqlock"])
@pytest.mark.parametrize("value_bytes", [8, 64, 256])
def test_stress_adaptive_cell_never_tears(variant, value_bytes):
    exp = get("adaptive_cell")
    threads = 3 if value_bytes == 64 else 2
    trial = run_trial(exp, variant, threads, exp.resolve_params({"value_bytes": value_bytes, "write_ratio": 0.5}), 0.1)
    assert trial.check.passed, trial.check.detail


def test_adaptive_cell_checker_sees_a_torn_value():
    exp = get("adaptive_cell")
    params = exp.resolve_params({"value_bytes": 64})
    state = AC.setup(1, params)
    state[1][3] += 1                      # one word from another value
    assert not AC.check(state, np.array([1]), params).passed


def test_bad_value_bytes_names_the_allowed_values():
    with pytest.raises(ParamError, match=r"parameter 'value_bytes' must be one of 8, 16, 32, 64, 128, 256, got 12"):
        get("adaptive_cell").resolve_params({"value_bytes": 12})


def test_adaptive_verdict_follows_the_numbers(claim_row):
    ad = lambda rate: claims.judge("adaptive-lock-10x", ResultTable([
        claim_row("adaptive_cell", "adaptive", 1, rate, value_bytes=8, write_ratio=0.1),
        claim_row("adaptive_cell", "mutex", 1, 10.0, value_bytes=8, write_ratio=0.1)]))
    assert ad(120.0).verdict == "holds" and ad(30.0).verdict == "partly holds" and ad(11.0).verdict == "does not hold"
