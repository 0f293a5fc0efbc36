"""kernlab.harness: the control block, stopping/should_abandon, the one backoff."""
import ast
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from kernlab import atomics as A
from kernlab import harness as H
from kernlab.jit import kernel
from kernlab.layout import PAD_BYTES


@kernel
def _spin_until_abandoned(ctl, started):
    """A spin loop as primitives write them: returns how many spins it took to give up."""
    A.store_release(started, 0, 1)   # release: pairs with the test's read of `started`
    spins = 0
    while True:
        spins += 1
        if H.should_abandon(ctl, spins):
            return spins


@kernel
def _stopping(ctl):
    return H.stopping(ctl)


@kernel
def _backoff_steps(steps):
    for step in range(steps):
        H.backoff(step)
    return steps


def test_control_block_fields_are_padded_and_set():
    before = time.monotonic_ns()
    ctl = H.control_block(started=True, sample_every=37)
    after = time.monotonic_ns()
    assert ctl.dtype == np.int64 and ctl.ctypes.data % PAD_BYTES == 0
    fields = (H.START, H.STOP, H.READY, H.DEADLINE, H.SAMPLE_EVERY, H.TRACE_CAPACITY, H.TRACE_FROM)
    assert len(set(fields)) == H.CONTROL_FIELDS
    for f in fields:
        assert f * ctl.itemsize % PAD_BYTES == 0 and f < len(ctl)
    assert min(np.diff(sorted(fields))) * ctl.itemsize >= PAD_BYTES   # no two flags on one line pair
    assert ctl[H.START] == 1 and ctl[H.STOP] == 0 and ctl[H.READY] == 0 and ctl[H.SAMPLE_EVERY] == 37
    assert before + 60 * 10**9 <= ctl[H.DEADLINE] <= after + 60 * 10**9   # default deadline: 60 s from creation
    fresh = H.control_block()
    assert fresh[H.START] == 0 and fresh[H.STOP] == 0 and fresh[H.SAMPLE_EVERY] == 0


def test_stopped_control_block_makes_every_spin_give_up_at_once():
    ctl = H.control_block(stopped=True)
    assert H.should_abandon(ctl, 1) and H.should_abandon(ctl, 256)
    assert _stopping(ctl)
    assert _spin_until_abandoned(ctl, np.zeros(1, np.int64)) == 1


def test_running_control_block_lets_spins_continue():
    ctl = H.control_block()
    assert not _stopping(ctl)
    assert not any(H.should_abandon(ctl, spins) for spins in (1, 255, 256, 512))


def test_past_deadline_is_seen_on_the_clock_check_every_256_spins():
    ctl = H.control_block(deadline_s=-1.0)        # the deadline has passed, STOP is not set
    assert not _stopping(ctl)
    assert not H.should_abandon(ctl, 1)           # the clock is not read on this spin ...
    assert H.should_abandon(ctl, 256)             # ... but on every 256th
    assert _spin_until_abandoned(ctl, np.zeros(1, np.int64)) == 256


def test_a_spinner_ends_only_after_the_stop_flag_is_raised():
    ctl = H.control_block(deadline_s=600.0)       # the deadline cannot end it during the test
    started = np.zeros(1, np.int64)
    _spin_until_abandoned(H.control_block(stopped=True), started)   # compiled before the thread starts
    started[0] = 0
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("spins", _spin_until_abandoned(ctl, started)))
    t.start()
    while not started[0]:
        time.sleep(0.001)
    assert t.is_alive() and "spins" not in result   # spinning, and nothing but STOP can end it
    ctl[H.STOP] = 1
    t.join(30)
    assert not t.is_alive() and result["spins"] >= 1


@pytest.mark.parametrize("steps", [0, 1, H.BACKOFF_LIMIT + 5])
def test_backoff_compiles_and_returns(steps):
    assert _backoff_steps(steps) == steps
    H.backoff(steps)                              # callable from Python too


def test_harness_imports_nothing_above_atomics_and_layout():
    """Every primitive may use the harness, so it must not import anything that imports
    primitives (runner, experiments, ...): that would be a cycle."""
    tree = ast.parse(Path(H.__file__).read_text())
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            local |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            assert not any(n.startswith("kernlab") for n in names), names
    assert local and local <= {"atomics", "jit", "layout"}, local
