"""The claims audit: every claim mapped and reproducible, verdicts from the table given,
reports in markdown and HTML, and `kernlab claims` from files or from a quick run."""
import shutil

import pytest

import kernlab
from kernlab import audit
from kernlab.claims import all_claims
from kernlab.cli import main
from kernlab.experiments import get
from kernlab.sweeps import sweep_points
from kernlab.tables import ResultTable

MACHINE = {"cpu_model": "Test CPU", "usable_cores": 2, "os": "Linux", "kernlab": "0", "numba": "0"}


def test_every_registered_claim_is_in_the_catalogue_with_a_way_to_reproduce_it():
    mapped = {cid for entry in audit.CATALOGUE for cid in entry.claims}
    assert set(all_claims()) <= mapped, sorted(set(all_claims()) - mapped)
    assert set(all_claims()) <= set(audit.REPRODUCE), sorted(set(all_claims()) - set(audit.REPRODUCE))
    assert all(entry.claims or entry.unmeasurable for entry in audit.CATALOGUE)


@pytest.mark.parametrize("claim_id", sorted(audit.REPRODUCE))
def test_every_spec_names_real_variants_parameters_and_values(claim_id):
    from kernlab.cli import _build_parser
    for spec in audit.REPRODUCE[claim_id]:
        words = spec.command(2).split()     # the reproduce command is a real kernlab command line
        assert words[0] == "kernlab" and _build_parser().parse_args(words[1:]).command == words[1]
        if spec.function:   # a measuring command of the CLI (a public function) instead of a sweep
            assert audit.FUNCTIONS[spec.function] in kernlab.__all__
            continue
        exp = get(spec.experiment)
        for values in {spec.values, spec.quick_values or spec.values}:
            assert sweep_points(exp, list(spec.variants), spec.thread_counts(2), dict(spec.params),
                                spec.sweep_param, values)


def test_verdicts_come_from_the_table(claim_row):
    rows = [claim_row("process_table", v, t, rate, read_ratio=0.999, read_only=False, table_size=1024, key_skew=0.0,
                      stall_us=0) for v, t, rate in (("rcu", 1, 40e6), ("sharded", 1, 10e6),
                                                   ("rcu", 2, 80e6), ("sharded", 2, 20e6))]
    judged = {r.claim_id: r for r in audit.audit(ResultTable(rows), cores=2) if r.claim_id}
    assert judged["rcu-vs-dashmap-reads"].verdict.verdict != "not measured"
    assert "4.00x" in judged["rcu-vs-dashmap-reads"].verdict.measured
    assert judged["cache-line-alignment"].verdict.verdict == "not measured"
    unmeasurable = [r for r in audit.audit(ResultTable(), cores=2) if r.claim_id is None]
    assert unmeasurable and all(r.verdict_text == "not measurable here" and r.unmeasurable for r in unmeasurable)


def test_reports_have_one_row_per_claim():
    rows = audit.audit(ResultTable(), cores=2)
    md = audit.markdown_report(rows, MACHINE)
    assert md.count("\n| ") == len(rows) + 1 and "Test CPU" in md   # + the header row
    page = audit.html_report(rows, MACHINE, ResultTable())
    assert page.count("<tr class='claim'>") == len(rows) and "not measurable here" in page


def test_cli_claims_from_a_file_writes_a_markdown_table(tmp_path, claim_row, capsys):
    src = tmp_path / "r.json"
    ResultTable([claim_row("counter", "padded", 2, 1e6, stride_bytes=8)]).save(str(src))
    out = tmp_path / "report.md"
    assert main(["claims", "--from", str(src), "--out", str(out)]) == 0
    claims_part, peers_part = out.read_text().split("## Peers")
    assert sum(line.startswith("| ") for line in claims_part.splitlines()) == len(audit.audit(ResultTable(), 2)) + 1
    assert "C references" in peers_part or not kernlab.reference_files("bench-")
    assert main(["claims", "--only", "nope"]) == 2
    assert "unknown claim" in capsys.readouterr().err


def test_cli_claims_run_quick_measures_and_judges(tmp_path):
    out, saved = tmp_path / "report.html", tmp_path / "rows.csv"
    assert main(["claims", "--run", "--quick", "--only", "cache-line-alignment", "--out", str(out),
                 "--save", str(saved)]) == 0
    page = out.read_text()
    assert "cache-line-alignment" in page and "not measured" not in page.split("cache-line-alignment")[1][:400]
    assert {r["param_stride_bytes"] for r in ResultTable.load(str(saved)).rows} == {8, 16, 32, 64, 128, 256}


def test_python_peers_are_measured_and_set_beside_kernlab():
    from kernlab import peers
    rows = peers.python_peers([1], duration=0.05, repeats=1)
    assert {r["peer"] for r in rows} == {"python threading.Lock counter", "python dict under threading.Lock"}
    assert all(r["ops_per_sec"] > 0 for r in rows)
    queue_rows = peers.python_peers([1, 2], duration=0.05, repeats=1)
    assert [r["threads"] for r in queue_rows if r["experiment"] == "queue"] == [2]     # 1 producer + 1 consumer
    assert all(r["ops_per_sec"] > 0 for r in queue_rows)
    table = ResultTable([{"experiment": "counter", "variant": "atomic", "threads": 1, "ops_per_sec": 4e8},
                         {"experiment": "process_table", "variant": "rwlock", "threads": 1, "ops_per_sec": 1e7,
                          "param_read_ratio": 0.5}])     # another setting than the peer's: not beside it
    beside = {r["experiment"]: r for r in audit.peer_rows(table, rows)}
    assert beside["counter"]["ratio"] == pytest.approx(4e8 / beside["counter"]["ops_per_sec"])
    assert beside["process_table"]["kernlab_ops_per_sec"] is None      # not measured: said, not invented
    assert "not measured" in audit.peers_markdown(list(beside.values()), [])


def test_c_peers_are_built_and_measured_in_the_same_run(tmp_path, monkeypatch):
    from kernlab import cpeers
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the C peers are reported missing")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    exe = cpeers.build("counter_atomic")
    assert exe.startswith(str(tmp_path)) and cpeers.build("counter_atomic") == exe     # cached by the source's hash
    assert cpeers.run_rate(exe, [0.05]) > 0
    liar = tmp_path / "liar"
    liar.write_text("#!/bin/sh\necho 1000 1000 3\n")
    liar.chmod(0o755)
    with pytest.raises(AssertionError, match="failed 3 times"):
        cpeers.run_rate(str(liar), [])
    rows, missing = cpeers.measure(duration=0.05, repeats=1)
    assert {r["peer"] for r in rows} | set(missing) == {p.peer for p in cpeers.C_PEERS}
    assert all(r["ops_per_sec"] > 0 for r in rows) and all(missing.values())
    specs = {(s.experiment, s.variants, tuple(sorted(s.params.items()))): s.threads for s in audit.PEER_SPECS}
    for p in cpeers.C_PEERS:       # kernlab measures the very point each C peer sits beside
        assert p.threads in specs[(p.compares[0], (p.compares[1],), tuple(sorted(p.params.items())))]
    with pytest.raises(cpeers.MissingPeer, match="building"):
        cpeers.build("counter_atomic", ["-lno-such-library-here"])


def test_the_html_report_draws_the_switch_waterfall_when_every_switch_was_measured(claim_row):
    from kernlab.experiments import get
    defaults = get("syscall_mix").resolve_params()
    rates = {"baseline": 1e6, "optimized": 2e6, "without_errors": 1.5e6}
    rows = [{**claim_row("syscall_mix", v, 2, rate, **defaults), "lat_p99_ns": 1e9 / rate} for v, rate in rates.items()]
    page = audit.html_report(audit.audit(ResultTable(rows), 2), MACHINE, ResultTable(rows))
    assert page.count('"type":"waterfall"') == 2     # throughput and p99
    without = ResultTable([r for r in rows if r["variant"] != "without_errors"])
    assert '"type":"waterfall"' not in audit.html_report(audit.audit(without, 2), MACHINE, without)


def test_quick_leaves_out_what_it_cannot_afford_and_says_so():
    table, skipped = audit.measure([audit.Spec("counter", ("atomic",), (1,), quick_skip=True)], quick=True,
                                   progress=False, cores=2)
    assert not table.rows and list(skipped.values()) == ["left out of --quick (run without --quick to measure it)"]
