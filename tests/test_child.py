"""kernlab.child: a run in a child process with extra environment comes back as a
RunResult; errors come back as one line; cancel ends the child; no child recursion."""
import threading
import time

import pytest

from kernlab import child
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.runner import Cancelled, run


@pytest.fixture(scope="module")
def counter():
    return get("counter")


def _in_child(exp, variant="atomic", env=None, cancel=None, **kw):
    args = dict(threads=1, duration=0.05, repeats=1, params=exp.resolve_params(), warmup=0.0,
                sample_every=0, pin=False)
    args.update(kw)
    return child.run_in_child(exp, variant, cancel=cancel, env=env or {"KERNLAB_TEST_MARK": "42"}, **args)


def test_a_run_comes_back_from_the_child_with_its_environment(counter):
    result = _in_child(counter)
    assert result.experiment == "counter" and result.check.passed and result.trials[0].ops > 0
    assert result.machine["child_env"] == {"KERNLAB_TEST_MARK": "42"}


def test_an_error_in_the_child_is_one_line(counter):
    with pytest.raises(ParamError, match="unknown variant") as e:
        _in_child(counter, variant="nope")
    assert "\n" not in str(e.value)


def test_a_preload_that_did_not_load_is_an_error(counter):
    with pytest.raises(RuntimeError, match="LD_PRELOAD did not load /nonexistent/libnothing.so"):
        _in_child(counter, env={"LD_PRELOAD": "/nonexistent/libnothing.so"})


def test_cancel_terminates_the_child(counter):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        _in_child(counter, duration=30.0, cancel=cancel)
    assert time.monotonic() - started < 15.0


def test_inside_a_child_the_runner_does_not_start_another(counter, monkeypatch):
    exp = get("alloc")
    monkeypatch.setenv(child.MARKER, "1")
    monkeypatch.setattr("kernlab.runner.run_in_child", lambda *a, **k: pytest.fail("recursed into a child"))
    monkeypatch.setattr("kernlab.experiments._alloc_support.allocator_library", lambda name: "/lib/x.so")
    result = run(exp, "stack", 1, 0.02, 1, params={"allocator": "mimalloc"}, warmup=0)
    assert result.check.passed and "child_env" not in result.machine
