"""The CLI as a user runs it: a real process, real exit codes, one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

CLI = [sys.executable, "-m", "kernlab.cli"]


def kernlab(*args, timeout=120):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)


def test_list_shows_variants_and_parameter_ranges():
    out = kernlab("list")
    assert out.returncode == 0
    assert "counter" in out.stdout and "padded" in out.stdout and "[BROKEN on purpose]" in out.stdout
    assert "stride_bytes" in out.stdout and "one of 8, 16, 32, 64, 128, 256" in out.stdout


def test_probe_is_json():
    facts = json.loads(kernlab("probe").stdout)
    assert facts["usable_cores"] >= 1 and facts["cache_line_bytes"] >= 16 and facts["numba"]


def test_run_json():
    out = kernlab("run", "counter", "--variant", "cas", "--threads", "2", "--duration", "0.1",
                  "--repeats", "2", "--param", "stride_bytes=128", "--json")
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert j["experiment"] == "counter" and j["variant"] == "cas" and j["threads"] == 2
    assert j["params"] == {"stride_bytes": 128} and len(j["ops_per_sec_trials"]) == 2
    assert len(j["per_thread_ops"]) == 2 and j["check"]["passed"]
    assert set(j["latency_ns"]) == {"p50", "p99", "p999"} and "oversubscribed" in j and j["machine"]


def test_run_human_summary_and_broken_variant_exit_code(tmp_path):
    out = kernlab("run", "counter", "--variant", "racy", "--threads", "2", "--duration", "0.2",
                  "--repeats", "1", "--out", str(tmp_path / "r.csv"))
    assert out.returncode == 0  # a broken teaching variant failing its check is the expected outcome
    assert "Mops/s" in out.stdout and "broken on purpose" in out.stdout
    assert (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("args, names", [
    (["run", "nope", "--variant", "atomic"], ["experiment", "counter"]),
    (["run", "counter", "--variant", "nope"], ["variant", "atomic"]),
    (["run", "counter", "--variant", "atomic", "--param", "nope=1"], ["nope", "stride_bytes"]),
    (["run", "counter", "--variant", "atomic", "--param", "stride_bytes=7"], ["stride_bytes", "8, 16"]),
    (["run", "counter", "--variant", "atomic", "--param", "stride_bytes"], ["NAME=VALUE"]),
    (["run", "counter", "--variant", "atomic", "--threads", "0"], ["--threads", "[1, 1024]"]),
    (["run", "counter", "--variant", "atomic", "--threads", "two"], ["--threads"]),
    (["run", "counter", "--variant", "atomic", "--duration", "0"], ["--duration", "(0, 60]"]),
    (["run", "counter", "--variant", "atomic", "--duration", "61"], ["--duration", "(0, 60]"]),
    (["run", "counter", "--variant", "atomic", "--duration", "-1"], ["--duration"]),
    (["run", "counter", "--variant", "atomic", "--repeats", "0"], ["--repeats"]),
    (["run", "counter"], ["--variant"]),
    (["sweep", "counter", "--variants", "atomic,nope", "--out", "x.csv"], ["variant", "nope"]),
    (["sweep", "counter", "--out", "x.txt"], ["--out", ".csv"]),
    (["sweep", "counter", "--values", "8", "--out", "x.csv"], ["--sweep-param"]),
    (["ladder", "--out", "x.txt"], ["--out", ".csv"]),
    (["ladder", "--out", "x.csv", "--repeats", "0"], ["--repeats"]),
    (["bogus"], ["bogus"]),
])
def test_bad_input_is_one_clear_line(args, names, tmp_path):
    out = subprocess.run(CLI + args, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("kernlab: error: ") and "Traceback" not in out.stderr
    for name in names:
        assert name in lines[0]
    assert not os.path.exists(tmp_path / "x.csv")


def test_sweep_writes_results_and_keeps_foreign_files(tmp_path):
    out = tmp_path / "s.csv"
    r = kernlab("sweep", "counter", "--variants", "atomic,padded", "--threads", "1,2", "--duration", "0.05",
                "--repeats", "1", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("experiment,variant,") and (tmp_path / "s.csv.meta.json").exists()
    foreign = tmp_path / "f.csv"
    foreign.write_text("x\n1\n")
    r = kernlab("sweep", "counter", "--out", str(foreign), "--duration", "0.05")
    assert r.returncode == 2 and "not a kernlab results file" in r.stderr and foreign.read_text() == "x\n1\n"


def _threads_that_ran(pid: int) -> int:
    """Threads of process ``pid``, other than its main thread, that have used CPU time:
    spinning workers do at once; idle library threads (BLAS pools) do not."""
    ran = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:          # the thread just ended
            continue
        if int(tid) != pid and int(fields[11]) + int(fields[12]) > 0:   # utime + stime
            ran += 1
    return ran


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="watches the workers through /proc")
def test_ctrl_c_ends_the_run_quickly():
    """Ctrl-C during a 30 s run ends it with status 130. The signal is sent only once the
    workers are seen running (a cold cache can take many seconds to compile first), and
    the run must end long before its 30 s: the interrupt, not the clock, ended it."""
    proc = subprocess.Popen(CLI + ["run", "counter", "--variant", "spinlock", "--threads", "3",
                                   "--duration", "30", "--repeats", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        waited = time.monotonic()
        while _threads_that_ran(proc.pid) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - waited < 240, "the workers never started"
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err, err
    assert time.monotonic() - sent < 15.0  # the 30 s run did not run out; includes interpreter shutdown


def test_lab_serves_the_notebooks_on_localhost_with_a_token(tmp_path):
    import socket
    import urllib.error
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    proc = subprocess.Popen(CLI + ["lab", "--no-browser", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if f"127.0.0.1:{port}/lab?token=" in line:
                url = line[line.index("http://"):].split()[0]
        assert url, "JupyterLab did not print its tokenized URL"

        def get(path):  # the server may print its URL a moment before it answers
            for _ in range(40):
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
                except urllib.error.HTTPError:
                    raise
                except urllib.error.URLError:
                    time.sleep(0.5)
            pytest.fail("JupyterLab printed its URL but never answered")

        with pytest.raises(urllib.error.HTTPError) as denied:
            get("/api/contents")
        assert denied.value.code == 403
        token = url.split("token=")[1]
        listing = json.load(get(f"/api/contents?token={token}"))
        names = {item["name"] for item in listing["content"]}
        assert "00-start-here.ipynb" in names
    finally:
        proc.terminate()
        proc.wait(20)


def test_compare_overlays_files_from_two_machines_as_separate_series(tmp_path, capsys):
    from kernlab.cli import main
    from kernlab.tables import ResultTable
    row = {"experiment": "counter", "variant": "atomic", "threads": 1, "ops_per_sec": 1e6, "broken": False,
           "oversubscribed": False, "usable_cores": 2}
    for name, machine, rate in (("a.csv", "small x2 @a", 1e6), ("b.json", "big x16 @b", 3e6)):
        ResultTable([{**row, "machine": machine, "ops_per_sec": rate},
                     {**row, "machine": machine, "threads": 2, "ops_per_sec": rate}]).save(str(tmp_path / name))
    out = tmp_path / "fig.html"
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.json"), "--out", str(out)]) == 0
    assert "2 machine(s)" in capsys.readouterr().out
    text = out.read_text()
    assert "atomic @ small x2 @a" in text and "atomic @ big x16 @b" in text
    assert main(["compare", str(tmp_path / "a.csv"), "--out", str(tmp_path / "f.txt")]) == 2
    assert "--out must end in .html" in capsys.readouterr().err


def test_ladder_writes_the_cost_ladder_rungs(tmp_path, capsys):
    from kernlab.cli import main
    from kernlab.tables import ResultTable
    out = tmp_path / "ladder.csv"
    assert main(["ladder", "--duration", "0.02", "--repeats", "1", "--out", str(out)]) == 0
    rungs = {r["rung"] for r in ResultTable.load(str(out)).rows}
    assert {"empty", "clock_read", "local_load", "uncontended_atomic", "contended_atomic_same_core"} <= rungs
