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
``trace_clock(ctl)``,         trace mode (off unless the runner asks for it): an op reads
``trace_event(ctl, ...)``      the clock around what it waits for and holds, and records
                               (kind, begin, end) into its thread's bounded event list.

Trace mode. A timeline ("who held the lock, when did the writer run") needs timestamps
that sampling does not give. With tracing on, the control block carries, after its
fields, one region per thread: a count, then a ring of ``capacity`` events of three
words; each thread writes only its own region (plain stores: the runner reads them after
the join, which orders them) and overwrites its oldest event when the ring is full, so
the trace is each thread's last ``capacity`` events of those that begin after
``TRACE_FROM`` (the runner sets it a little after START: threads still starting up are
not traced). Cost: off, one load of a read-only word per
traced op; on, one clock read per timestamp (``machine.timer_overhead_ns``), which
stretches short critical sections: timelines show order and overlap, not exact speed.

This module imports nothing above ``atomics``/``layout``/``jit`` (as liburcu's static fast
paths depend only on its atomics), so every primitive can use it and the runner, the
experiments and the UI sit above it without a cycle.
"""
from __future__ import annotations

import time

import numpy as np

from . import atomics as A
from .jit import inline_kernel
from .layout import aligned_zeros, field_offsets, pad_words

# The fields of the control block, one padded field each.
START, STOP, READY, DEADLINE, SAMPLE_EVERY, TRACE_CAPACITY, TRACE_FROM = field_offsets(7)
CONTROL_FIELDS = 7
TRACE_BASE = CONTROL_FIELDS * pad_words()   # where the per-thread trace regions begin
TRACE_HEADER = pad_words()                  # a region's count, alone on its line pair
# What a trace event records (its ``kind``): intervals, or instants where begin == end.
WAIT, HOLD, WRITE, RETRY, GRACE, ADVANCE = 1, 2, 3, 4, 5, 6
TRACE_KINDS = {WAIT: "wait", HOLD: "hold", WRITE: "write", RETRY: "retry", GRACE: "grace period",
               ADVANCE: "epoch advance"}

BACKOFF_LIMIT = 6   # at most 2**6 = 64 pauses (~1-2 us): stops a stampede, short next to a handoff


def control_block(*, started: bool = False, stopped: bool = False, deadline_s: float = 60.0,
                  sample_every: int = 0, trace_capacity: int = 0, threads: int = 0) -> np.ndarray:
    """A fresh control block. Tests call primitives with one: ``control_block()`` lets
    spin loops run (until ``deadline_s`` from now); ``control_block(stopped=True)``
    makes every wait give up at once. ``sample_every`` 0 turns latency sampling off;
    ``trace_capacity`` > 0 keeps the last that many events of each of ``threads``."""
    ctl = aligned_zeros(TRACE_BASE + threads * trace_region(trace_capacity) * (trace_capacity > 0),
                        align=pad_words() * 8)
    ctl[TRACE_CAPACITY] = trace_capacity if threads else 0
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


@inline_kernel
def trace_region(capacity):
    """Words of one thread's trace region: its count, then the events, in whole padded fields."""
    return TRACE_HEADER + (3 * capacity + TRACE_HEADER - 1) // TRACE_HEADER * TRACE_HEADER


@inline_kernel
def trace_clock(ctl):
    """A timestamp for a trace event, or 0 without a clock read when tracing is off."""
    # plain load: written before START, read-only during the run
    return A.now_ns() if ctl[TRACE_CAPACITY] != 0 else np.int64(0)


@inline_kernel
def trace_event(ctl, tid, kind, begin, end):
    """Record one event of thread ``tid`` in its ring (over its oldest event when the ring
    is full) if tracing is on."""
    capacity = ctl[TRACE_CAPACITY]
    # plain load of TRACE_FROM: written before START (the runner skips the start-up)
    if capacity != 0 and begin >= ctl[TRACE_FROM]:
        base = TRACE_BASE + tid * trace_region(capacity)
        count = ctl[base]     # events ever recorded: the next slot is count mod capacity
        at = base + TRACE_HEADER + 3 * (count % capacity)
        ctl[at] = kind
        ctl[at + 1] = begin
        ctl[at + 2] = end
        ctl[base] = count + 1


def trace_events(ctl: np.ndarray, threads: int) -> np.ndarray:
    """The kept events as rows (thread, kind, begin_ns, end_ns), oldest first within each
    thread (a ring that wrapped starts at its oldest slot)."""
    capacity = int(ctl[TRACE_CAPACITY])
    rows = []
    for tid in range(threads if capacity else 0):
        base = TRACE_BASE + tid * trace_region(capacity)
        count = int(ctl[base])
        kept = min(count, capacity)
        events = ctl[base + TRACE_HEADER: base + TRACE_HEADER + 3 * kept].reshape(kept, 3)
        if count > capacity:
            events = np.roll(events, -(count % capacity), axis=0)
        rows.append(np.column_stack([np.full(kept, tid, np.int64), events]))
    return np.concatenate(rows) if rows else np.zeros((0, 4), np.int64)
