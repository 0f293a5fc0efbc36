"""kernlab.tables: the tidy results table, its CSV/JSON round trip and safe writes."""
import json
import os

import pytest

from kernlab.runner import run
from kernlab.tables import ResultsFileError, ResultTable, atomic_write


@pytest.fixture(scope="module")
def table(counter):
    t = ResultTable()
    for v, threads in (("atomic", 1), ("padded", 2), ("racy", 2)):
        t.add(run(counter, v, threads, duration=0.05, repeats=2, warmup=0))
    return t


def test_rows_are_tidy(table):
    assert len(table) == 6
    row = table.rows[0]
    for col in ("experiment", "variant", "threads", "trial", "ops_per_sec", "per_thread_ops",
                "lat_p99_ns", "check_passed", "oversubscribed", "param_stride_bytes", "timestamp",
                "metric_lost_updates", "cpu_model"):
        assert col in row
    assert table.provenance and "numba" in table.provenance[0]


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_round_trip_keeps_values_and_types(table, tmp_path, ext):
    path = str(tmp_path / f"r.{ext}")
    table.save(path)
    back = ResultTable.load(path)
    assert back.rows == json.loads(json.dumps(table.rows))
    assert back.provenance == table.provenance
    assert isinstance(back.rows[0]["per_thread_ops"], list) and isinstance(back.rows[0]["check_passed"], bool)


def test_a_csv_is_plain_and_its_header_lives_in_a_sidecar(table, tmp_path):
    path = tmp_path / "r.csv"
    table.save(str(path))
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:2] == ["experiment", "variant"] and len(lines) == len(table) + 1
    header = json.loads((tmp_path / "r.csv.meta.json").read_text())
    assert header["format"] == "kernlab-results" and header["provenance"] == table.provenance
    assert header["columns"]["per_thread_ops"] == "list"


def test_a_csv_without_its_sidecar_loads_with_inferred_types(table, tmp_path):
    path = tmp_path / "r.csv"
    table.save(str(path))
    os.unlink(tmp_path / "r.csv.meta.json")
    back = ResultTable.load(str(path))
    assert back.provenance == [] and len(back) == len(table)
    row = back.rows[0]
    assert isinstance(row["threads"], int) and isinstance(row["ops_per_sec"], float)
    assert isinstance(row["check_passed"], bool) and row["variant"] == table.rows[0]["variant"]


def test_an_old_csv_with_its_header_inline_still_loads(table, tmp_path):
    path = tmp_path / "old.csv"
    header = json.dumps({"format": "kernlab-results", "version": 1, "provenance": table.provenance,
                         "columns": {c: "str" for c in table.columns()} | {"threads": "int"}})
    path.write_text("# kernlab-results " + header + "\n" + table.to_csv_text())
    back = ResultTable.load(str(path))
    assert back.column("threads") == table.column("threads") and back.provenance == table.provenance


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "not a kernlab results file"),
    ("", "not a kernlab results file"),
    ("# kernlab-results {broken\n", "corrupt kernlab results header"),
    ('# kernlab-results {"format": "kernlab-results", "version": 99}\n', "version 99"),
    ('# kernlab-results {"format": "kernlab-results", "version": 1, "columns": {"threads": "int"}}\n'
     'experiment,variant,threads,ops_per_sec\ncounter,atomic,xx,1.0\n',
     "corrupt kernlab results file"),
])
def test_foreign_or_corrupt_csv(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(ResultsFileError, match=message):
        ResultTable.load(str(path))


@pytest.mark.parametrize("content", ["{not json", '{"format": "other"}', "[1, 2]"])
def test_foreign_or_corrupt_json(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ResultsFileError, match="x.json"):
        ResultTable.load(str(path))


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultsFileError):
        ResultTable.load(str(path))


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "keep.csv"
    path.write_text("precious")

    def boom(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(str(path), "new content")
    assert path.read_text() == "precious"
    assert os.listdir(tmp_path) == ["keep.csv"]  # no temporary file left behind


def test_where_and_columns(table):
    assert {r["variant"] for r in table.where(variant="racy").rows} == {"racy"}
    assert "ops" in table.columns()


def test_median_rows_pick_each_groups_median_trial():
    from kernlab.tables import ResultTable
    rows = [{"variant": "a", "ops_per_sec": x, "trial": i} for i, x in enumerate([3.0, 1.0, 2.0])]
    rows += [{"variant": "b", "ops_per_sec": x, "trial": i} for i, x in enumerate([5.0, 4.0])]
    picked = ResultTable(rows).median_rows("variant")
    assert [(r["variant"], r["ops_per_sec"]) for r in picked] == [("a", 2.0), ("b", 4.0)]   # lower median: observed
