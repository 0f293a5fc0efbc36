"""Trace mode: bounded per-thread event lists in the control block, recorded by the ops
of the lock, seqlock and RCU experiments, drawn as a timeline."""
import numpy as np
import pytest

from kernlab import harness as H
from kernlab import plots
from kernlab.declaration import ParamError
from kernlab.runner import run
from kernlab.tables import ResultTable


def test_each_thread_keeps_its_last_events_in_its_own_ring_oldest_first():
    ctl = H.control_block(trace_capacity=3, threads=2)
    for i in range(5):                  # the ring wraps: the first two are overwritten
        H.trace_event(ctl, 1, H.HOLD, 10 + i, 20 + i)
    H.trace_event(ctl, 0, H.WAIT, 1, 2)
    events = H.trace_events(ctl, 2)
    assert events.tolist() == [[0, H.WAIT, 1, 2], [1, H.HOLD, 12, 22], [1, H.HOLD, 13, 23], [1, H.HOLD, 14, 24]]
    H.trace_event(ctl, 1, H.HOLD, 15, 25)
    assert H.trace_events(ctl, 2)[1:, 2].tolist() == [13, 14, 15]


def test_tracing_is_off_by_default_and_skips_events_before_its_start():
    off = H.control_block()
    assert H.trace_clock(off) == 0
    H.trace_event(off, 0, H.HOLD, 1, 2)
    assert H.trace_events(off, 1).shape == (0, 4)
    ctl = H.control_block(trace_capacity=4, threads=1)
    ctl[H.TRACE_FROM] = 100
    H.trace_event(ctl, 0, H.HOLD, 99, 150)     # began before the trace window
    H.trace_event(ctl, 0, H.HOLD, 100, 150)
    assert H.trace_events(ctl, 1)[:, 2].tolist() == [100] and H.trace_clock(ctl) > 0


def _holds_overlap(events) -> bool:
    holds = events[events[:, 1] == H.HOLD]
    holds = holds[np.argsort(holds[:, 2])]
    return bool((holds[1:, 2] < holds[:-1, 3]).any())


@pytest.fixture(scope="module")
def traced():
    from kernlab.experiments import get
    t = ResultTable()
    t.add(run(get("lock"), "ttas", 2, duration=0.1, repeats=1, trace=500))
    t.add(run(get("stats_snapshot"), "seqlock", 2, duration=0.1, repeats=1, trace=500,
              params={"read_ratio": 0.5}))
    t.add(run(get("process_table"), "rcu", 2, duration=0.1, repeats=1, trace=500, params={"read_ratio": 0.9}))
    t.add(run(get("fd_table"), "epoch", 2, duration=0.1, repeats=1, trace=2000, params={"read_ratio": 0.5}))
    return t


def test_a_lock_trace_alternates_wait_and_hold_and_holds_never_overlap(traced):
    row = traced.where(experiment="lock").rows[0]
    events = plots.timeline.trace_events(row)
    assert len(events) and (np.bincount(events[:, 0]) <= 500).all()
    for tid in (0, 1):      # a wait (only when there was one) is always followed by its hold
        kinds = events[events[:, 0] == tid, 1]
        assert set(kinds) <= {H.WAIT, H.HOLD} and (kinds[1:][kinds[:-1] == H.WAIT] == H.HOLD).all()
    assert row["trace_capacity"] == 500
    assert (events[:, 3] >= events[:, 2]).all()
    assert not _holds_overlap(events)          # mutual exclusion, seen in the trace


def test_the_overlap_check_can_fail():
    overlapping = np.array([[0, H.HOLD, 0, 10], [1, H.HOLD, 5, 15]])
    assert _holds_overlap(overlapping)


def test_seqlock_and_rcu_traces_show_writer_windows(traced):
    for experiment in ("stats_snapshot", "process_table"):
        events = plots.timeline.trace_events(traced.where(experiment=experiment).rows[0])
        assert (events[:, 1] == H.WRITE).any(), experiment
    assert "x2:" in plots.timeline_lines(traced)


def test_an_epoch_trace_shows_writes_and_each_epoch_advance_once(traced):
    row = traced.where(experiment="fd_table").rows[0]
    events = plots.timeline.trace_events(row)
    advances = events[events[:, 1] == H.ADVANCE]
    assert (events[:, 1] == H.WRITE).any() and len(advances)
    assert (advances[:, 2] == advances[:, 3]).all()     # an instant
    # every advance is one successful CAS of the global epoch: never more in the trace than
    # the run counted (the trace may have stopped recording before the run ended)
    assert len(advances) <= row["metric_epoch_advances"]
    assert "epoch advance" in {t.name for t in plots.timeline_figure(traced.where(experiment="fd_table")).data}


def test_untraced_runs_carry_no_events_and_a_bad_trace_is_refused(counter):
    r = run(counter, "atomic", 1, duration=0.02, repeats=1, warmup=0)
    assert "trace_kind" not in r.rows()[0]
    with pytest.raises(ParamError, match="trace must be an integer in"):
        run(counter, "atomic", 1, duration=0.02, trace=-1)


def test_the_timeline_shows_the_window_every_thread_recorded_and_clips_long_waits():
    row = {"experiment": "lock", "variant": "ticket", "threads": 2, "ops_per_sec": 1.0,
           "trace_thread": [0, 0, 1, 1], "trace_kind": [H.WAIT, H.HOLD, H.WAIT, H.HOLD],
           "trace_begin_ns": [0, 1000, 500, 90_000], "trace_end_ns": [1000, 2000, 90_000, 91_000]}
    fig = plots.timeline_figure(ResultTable([row]))
    events = plots.timeline.trace_events(row)
    assert plots.timeline.common_window(events) == (500, 91_000)
    assert plots.timeline.common_window(events, capacity=2) == (500, 91_000)  # both rings wrapped: thread 1
    #                                                                          lost what came before 500
    assert plots.timeline.common_window(events, capacity=3) == (0, 91_000)    # none wrapped: all kept
    wait = next(t for t in fig.data if t.name == "wait")
    assert np.nanmin(np.array(wait.x, float)) == pytest.approx(0.0)  # thread 0's wait, clipped at the window's start
    assert list(fig.layout.yaxis.ticktext) == ["t0", "t1"]
