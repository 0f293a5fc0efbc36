"""The `fd_striping` experiment (one global lock, a lock per process, striped locks)
on real threads: every per-process table counts every install; the stripe hash spreads."""
import numpy as np
import pytest

from kernlab import claims
from kernlab.declaration import ParamError
from kernlab.experiments import fd_striping as FS
from kernlab.experiments import get
from kernlab.machine import usable_cores
from kernlab.runner import run_trial
from kernlab.tables import ResultTable

OVER = usable_cores() + 2             # oversubscribed: more threads than cores

pytestmark = pytest.mark.usefixtures("no_worker_threads_left")


@pytest.mark.stress
@pytest.mark.parametrize("variant", ["global", "per_process", "striped"])
@pytest.mark.parametrize("skew", [0.0, 1.2])
def test_stress_fd_striping_counts_every_table(variant, skew):
    exp = get("fd_striping")
    params = exp.resolve_params({"processes": 32, "stripes": 4, "key_skew": skew})
    trial = run_trial(exp, variant, 2 if skew else OVER, params, 0.1)
    assert trial.check.passed, trial.check.detail


def test_fd_striping_hash_and_stripes():
    exp = get("fd_striping")
    with pytest.raises(ParamError, match="stripes.*a power of two"):
        exp.resolve_params({"stripes": 6})
    stripes = [FS.stripe_of(p, 3) for p in range(1000)]
    assert set(stripes) == set(range(8)) and FS.stripe_of(123, 0) == 0
    counts = np.bincount(stripes)
    assert counts.min() > 90          # Fibonacci hashing spreads consecutive ids evenly


def test_striping_verdict_follows_the_numbers(claim_row):
    st = lambda rate: claims.judge("lock-striping", ResultTable([
        claim_row("fd_striping", "global", 2, 10.0), claim_row("fd_striping", "per_process", 2, rate)]))
    assert st(20.0).verdict == "holds" and st(10.5).verdict == "does not hold"
