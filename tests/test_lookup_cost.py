"""lookup_cost: each step is process_table's own code, and its check can fail."""
import dataclasses

import pytest

from kernlab.experiments import get
from kernlab.experiments import process_table as PT
from kernlab.primitives.records import POISON
from kernlab.runner import run_trial

EXP = get("lookup_cost")


def test_steps_build_up_to_process_tables_rcu_op():
    names = EXP.variant_names()
    assert names == ["harness", "key", "lookup", "check", "quiescent"]
    assert EXP.variant("quiescent").op is PT.EXPERIMENT.variant("rcu").op


@pytest.mark.parametrize("variant", EXP.variant_names())
def test_every_step_runs_and_passes(variant):
    params = EXP.resolve_params({"table_size": 64})
    trial = run_trial(EXP, variant, 1, params, 0.05)
    assert trial.ops > 0 and trial.check.passed, trial.check.detail


@pytest.mark.parametrize("variant", ["lookup", "check", "quiescent"])
def test_a_bad_record_is_caught_from_the_lookup_step_on(variant):
    def poisoned(threads, params):
        state = EXP.setup(threads, params)
        state[PT.RECORDS][:] = POISON if variant != "lookup" else -7   # lookup checks only the key word
        return state
    broken = dataclasses.replace(EXP, setup=poisoned)
    trial = run_trial(broken, variant, 1, EXP.resolve_params({"table_size": 64}), 0.05)
    assert not trial.check.passed
