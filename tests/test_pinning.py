"""Pinning: policies (none, compact, scattered, explicit CPUs), the order each gives on
a machine with SMT and two packages, the sysfs topology, the record in results, and the
CLI and panel controls."""
import json
import os
import subprocess
import sys
import threading

import pytest

from kernlab import cli, machine
from kernlab.declaration import ParamError
from kernlab.experiments import get
from kernlab.runner import resolve_pin, run, run_trial
from kernlab.tables import ResultTable

CPUS = sorted(os.sched_getaffinity(0))


def test_cpu_list_parses_sysfs_ranges():
    assert machine._cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]


def test_topology_covers_every_usable_cpu():
    topo = machine.cpu_topology()
    assert [t["cpu"] for t in topo] == CPUS
    for t in topo:
        assert t["cpu"] in t["smt_siblings"] and t["cpu"] in t["llc"]


def _fake_topology():
    """2 packages x 2 cores x 2 SMT threads, numbered as Linux does on Intel: CPU c and
    c + 4 are siblings; CPUs 0, 1, 4, 5 in package 0."""
    out = []
    for cpu in range(8):
        package, core = (cpu % 4) // 2, cpu % 2
        out.append({"cpu": cpu, "package": package, "core": core, "smt_siblings": sorted({cpu % 4, cpu % 4 + 4}),
                    "llc": [c for c in range(8) if (c % 4) // 2 == package]})
    return out


def test_compact_fills_a_core_then_a_package_scattered_spreads_first(monkeypatch):
    monkeypatch.setattr(machine, "cpu_topology", _fake_topology)
    assert machine.pin_order("compact") == [0, 4, 1, 5, 2, 6, 3, 7]   # siblings side by side
    scattered = machine.pin_order("scattered")
    assert scattered[:4] == [0, 2, 1, 3]                                # one per core, packages alternate
    assert set(scattered[4:]) == {4, 5, 6, 7}                           # SMT siblings last


def test_resolve_pin_policies_and_lists():
    assert resolve_pin(False, 2) == ("none", None) == resolve_pin("none", 2) == resolve_pin(None, 2)
    policy, cpus = resolve_pin(True, 3)
    assert policy == "compact" and cpus == [machine.pin_order("compact")[i % len(CPUS)] for i in range(3)]
    assert resolve_pin("scattered", 1)[0] == "scattered"
    assert resolve_pin([CPUS[0]], 3) == ("cpus", [CPUS[0]] * 3)
    with pytest.raises(ParamError, match="pin must be one of none, compact, scattered or a list of CPU ids"):
        resolve_pin("everywhere", 2)
    with pytest.raises(ParamError, match="got \\[99999\\]"):
        resolve_pin([99999], 2)


def _cpu_of_worker(pin):
    """The affinity each worker thread of a trial had (read from Python around the run)."""
    seen = []
    real = os.sched_setaffinity

    def spy(pid, mask):
        real(pid, mask)
        seen.append((threading.current_thread().name, sorted(os.sched_getaffinity(0))))
    return seen, spy


def test_workers_are_pinned_where_the_plan_says(monkeypatch, counter):
    seen, spy = _cpu_of_worker(None)
    monkeypatch.setattr(os, "sched_setaffinity", spy)
    run_trial(counter, "atomic", 2, counter.resolve_params(), 0.02, pin=[CPUS[-1], CPUS[0]])
    assert sorted(seen) == [("kernlab-0", [CPUS[-1]]), ("kernlab-1", [CPUS[0]])]
    assert os.sched_getaffinity(0) == set(CPUS)          # the calling thread is not pinned


def test_results_record_the_pinning(counter, tmp_path):
    result = run(counter, "atomic", 2, duration=0.02, repeats=1, warmup=0, pin=[CPUS[0], CPUS[-1]])
    assert result.pinned and result.pin == "cpus" and result.cpus == [CPUS[0], CPUS[-1]]
    j = result.to_json()
    assert j["pin"] == "cpus" and j["cpus"] == [CPUS[0], CPUS[-1]]
    unpinned = run(counter, "atomic", 1, duration=0.02, repeats=1, warmup=0)
    assert not unpinned.pinned and unpinned.pin == "none" and unpinned.cpus == []
    table = ResultTable()
    table.add(result)
    table.add(unpinned)
    for name in ("t.csv", "t.json"):
        table.save(str(tmp_path / name))
        back = ResultTable.load(str(tmp_path / name))
        assert back.rows[0]["pin"] == "cpus" and back.rows[0]["pin_cpus"] == [CPUS[0], CPUS[-1]]
        assert back.rows[1]["pin"] == "none"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "kernlab.cli", *args], capture_output=True, text=True, timeout=120)


def test_cli_pin_option():
    pair = f"{CPUS[0]},{CPUS[-1]}"
    # the contract: `kernlab run c2c --threads 2 --json`, the pair latency in metrics
    out = _cli("run", "c2c", "--threads", "2", "--duration", "0.05", "--repeats", "1", "--pin", pair, "--json")
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert j["pin"] == "cpus" and j["cpus"] == [CPUS[0], CPUS[-1]] and j["metrics"]["handoff_ns"] > 0
    parse = lambda *more: cli.pin_value(cli._build_parser().parse_args(["run", "counter", *more]).pin)
    assert parse("--pin") == "compact" and parse() == "none" and parse("--pin", "scattered") == "scattered"
    assert parse("--pin", "3,1") == [3, 1]
    bad = _cli("run", "counter", "--variant", "atomic", "--pin", "sideways")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--pin must be" in bad.stderr


def test_panel_pinning_control_reaches_the_runs():
    from kernlab.ui import Panel
    panel = Panel(get("counter"), variants=["atomic"], threads=[1], duration=0.02, repeats=1)
    assert list(panel.pin.options) == ["none", "compact", "scattered"]
    panel.pin.value = "scattered"
    panel.run()
    assert panel.error is None, panel.error
    assert {r["pin"] for r in panel.results.rows} == {"scattered"}
