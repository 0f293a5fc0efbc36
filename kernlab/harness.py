"""The harness layer: what a primitive may use besides atomics and layout.

A run is steered through a *control block*: one int64 array of padded fields
(``layout.field_offsets``), so the flags that every worker polls never share a line pair
with anything written during the run. The runner owns it; workers and primitives only
read it, through the helpers below:

``stopping(ctl)``             the run is ending: a spin loop gives up and returns -1;
``should_abandon(ctl, spins)`` for spin loops: the stop flag every spin, the clock every
                               256 spins (a preempted lock holder must not keep a
                               spinner alive past the deadline);
``backoff(step)``             the one bounded exponential backoff (crossbeam's ``Backoff``):
                               2**step pauses, capped at 2**BACKOFF_LIMIT.

This module imports nothing above ``atomics``/``layout``/``jit`` (as liburcu's static fast
paths depend only on its atomics), so every primitive can use it and the runner, the
experiments and the UI sit above it without a cycle.
"""
from __future__ import annotations

import time

import numpy as np

from . import atomics as A
from .jit import inline_kernel
from .layout import field_offsets, padded_fields

# The fields of the control block, one padded field each.
START, STOP, READY, DEADLINE, SAMPLE_EVERY = field_offsets(5)
CONTROL_FIELDS = 5

BACKOFF_LIMIT = 6   # at most 2**6 = 64 pauses (~1-2 us): stops a stampede, short next to a handoff


def control_block(*, started: bool = False, stopped: bool = False, deadline_s: float = 60.0,
                  sample_every: int = 0) -> np.ndarray:
    """A fresh control block. Tests call primitives with one: ``control_block()`` lets
    spin loops run (until ``deadline_s`` from now); ``control_block(stopped=True)``
    makes every wait give up at once. ``sample_every`` 0 turns latency sampling off."""
    ctl = padded_fields(CONTROL_FIELDS)
    ctl[START] = int(started)
    ctl[STOP] = int(stopped)
    ctl[DEADLINE] = time.monotonic_ns() + int(deadline_s * 1e9)
    ctl[SAMPLE_EVERY] = sample_every          # ops between latency samples on average; 0: off
    return ctl


@inline_kernel
def stopping(ctl):
    """True once the run is stopping. Ops that can spin (locks) poll it and return -1.
    relaxed: the flag publishes no data; the runner's join orders the results."""
    return A.load_relaxed(ctl, STOP) != 0


@inline_kernel
def past_deadline(ctl):
    # relaxed: the deadline is written before START is released (see runner).
    return A.now_ns() > A.load_relaxed(ctl, DEADLINE)


@inline_kernel
def should_abandon(ctl, spins):
    """For spin loops: the stop flag every spin, the clock every 256 spins."""
    return stopping(ctl) or ((spins & 255) == 0 and past_deadline(ctl))


@inline_kernel
def backoff(step):
    """Pause 2**min(step, BACKOFF_LIMIT) times. Callers count ``step`` up from 0 per
    failed attempt, so waiters spread out instead of stampeding a line on every release."""
    for _ in range(1 << min(step, BACKOFF_LIMIT)):
        A.cpu_relax()
