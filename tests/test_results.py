"""kernlab.results: trials, their aggregation (median, spread, fairness, latency
percentiles) and formatting (summary text, the CLI's JSON, tidy rows). Built by hand:
no run needed to test what a result says."""
import json

import numpy as np
import pytest

from kernlab.declaration import Check
from kernlab.results import RunResult, Trial, latency_percentiles

MACHINE = {"cpu_model": "Test CPU", "usable_cores": 2, "timer_overhead_ns": 20.0, "numba": "0.0"}


def _trial(rate, passed=True, lats=(10, 20, 30), ops=(600, 400), aux=(1, 2), metrics=None):
    ops = np.array(ops, np.int64)
    return Trial(ops, np.array(aux, np.int64), ops.sum() / rate, np.array(lats, np.int64), 16, 0.01,
                 Check(passed, "ok" if passed else "lost 3 updates"), metrics or {"lost_updates": 0})


def _result(trials, broken=False, oversubscribed=False):
    return RunResult("counter", "atomic", broken, 2, {"stride_bytes": 64}, 0.1, trials, oversubscribed,
                     False, "retries", MACHINE)


def test_latency_percentiles():
    lat = latency_percentiles(np.arange(1, 1001))
    assert lat["p50"] == pytest.approx(500.5) and lat["samples"] == 1000
    assert latency_percentiles(np.array([], np.int64))["p50"] is None


def test_fairness():
    t = Trial(np.array([100, 300]), np.zeros(2, np.int64), 1.0, np.array([1]), 1, 0.0, None)
    assert t.fairness == {"min": 100, "max": 300, "cv": pytest.approx(0.5)}


def test_median_trial_and_spread():
    res = _result([_trial(300.0), _trial(100.0), _trial(200.0)])
    assert res.ops_per_sec == pytest.approx(200.0)
    assert res.median_trial is res.trials[2]
    j = res.to_json()
    assert j["ops_per_sec_min"] == pytest.approx(100.0) and j["ops_per_sec_max"] == pytest.approx(300.0)
    assert j["ops_per_sec_trials"] == pytest.approx([300.0, 100.0, 200.0])


def test_check_fails_if_any_trial_failed():
    assert _result([_trial(1.0), _trial(1.0)]).check.passed
    c = _result([_trial(1.0), _trial(1.0, passed=False), _trial(1.0)]).check
    assert not c.passed and "1 of 3 trials failed" in c.detail and "lost 3 updates" in c.detail


def test_json_is_the_cli_object():
    res = _result([_trial(100.0, lats=(10, 20)), _trial(200.0, lats=(30, 40))])
    j = json.loads(json.dumps(res.to_json()))
    assert j["experiment"] == "counter" and j["params"] == {"stride_bytes": 64}
    assert j["retries"] == 6                           # aux summed over threads and trials, under its name
    assert j["latency_samples"] == 4                   # every trial's samples pooled
    assert set(j["latency_ns"]) == {"p50", "p99", "p999"} and j["latency_ns"]["p50"] == pytest.approx(25.0)
    assert j["per_thread_ops"] == [600, 400] and j["fairness"]["min"] == 400
    assert j["check"] == {"passed": True, "detail": "ok"} and j["machine"] == MACHINE


def test_summary_says_what_was_measured_and_flagged():
    text = _result([_trial(2e6)], broken=True, oversubscribed=True).summary()
    assert "counter/atomic x2 threads" in text and "OVERSUBSCRIBED" in text
    assert "2.00 Mops/s median of 1" in text and "1 in 16 ops timed" in text
    assert "~20 ns of clock read" in text and "broken on purpose" in text and "PASS" in text
    empty = _result([_trial(1.0, lats=())]).summary()
    assert "p50 n/a" in empty and "OVERSUBSCRIBED" not in empty


def test_rows_are_one_per_trial_with_params_and_metrics():
    rows = _result([_trial(100.0), _trial(200.0, metrics={"lost_updates": 7})]).rows()
    assert [r["trial"] for r in rows] == [0, 1]
    assert rows[1]["param_stride_bytes"] == 64 and rows[1]["metric_lost_updates"] == 7
    assert rows[0]["ops"] == 1000 and rows[0]["aux"] == 3 and rows[0]["aux_name"] == "retries"
    assert rows[0]["lat_samples"] == 3 and rows[0]["cpu_model"] == "Test CPU"
    json.dumps(rows)                                   # plain values only


def test_rows_keep_raw_latency_samples_bounded_per_thread_with_their_thread():
    from kernlab.results import RAW_SAMPLES_PER_THREAD
    lats = np.concatenate([np.full(5000, 10), np.arange(30)])  # thread 0 took 5000 samples, thread 1 took 30
    t = _trial(100.0, lats=lats)
    t.latency_threads = np.repeat([0, 1], [5000, 30])
    row = _result([t]).rows()[0]
    tids = np.array(row["lat_raw_thread"])
    assert (tids == 0).sum() == RAW_SAMPLES_PER_THREAD and (tids == 1).sum() == 30
    assert sorted(np.array(row["lat_raw_ns"])[tids == 1].tolist()) == list(range(30))  # a short list is kept whole


def test_machine_label_names_cpu_cores_and_host():
    from kernlab.results import machine_label
    facts = {"cpu_model": "Intel(R) Xeon(R) Platinum 8488C CPU @ 2.40GHz", "usable_cores": 2, "host": "vm7"}
    assert machine_label(facts) == "Intel Xeon Platinum 8488C x2 @vm7"
    assert _result([_trial(1.0)]).rows()[0]["machine"] == "Test x2 @?"
