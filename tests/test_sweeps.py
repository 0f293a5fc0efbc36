"""kernlab.sweeps: variants x thread counts (x one parameter) into a results file."""
import json

import pytest

from kernlab.declaration import ParamError
from kernlab.runner import run
from kernlab.sweeps import sweep, sweep_points
from kernlab.tables import ResultsFileError, ResultTable


def test_sweep_appends_to_existing_results_and_refuses_foreign(counter, tmp_path):
    out = str(tmp_path / "s.csv")
    first = sweep(counter, ["atomic"], [1], duration=0.03, repeats=1, out=out, progress=False, warmup=0)
    assert len(ResultTable.load(out)) == 1
    sweep(counter, ["padded"], [1, 2], duration=0.03, repeats=1, out=out, progress=False, warmup=0)
    back = ResultTable.load(out)
    assert len(back) == 3 and back.rows[0] == json.loads(json.dumps(first.rows[0]))
    foreign = tmp_path / "notes.csv"
    foreign.write_text("my,own\ndata,here\n")
    with pytest.raises(ResultsFileError):
        sweep(counter, ["atomic"], [1], duration=0.03, repeats=1, out=str(foreign), progress=False)
    assert foreign.read_text() == "my,own\ndata,here\n"


def test_sweep_over_a_parameter(counter):
    pts = sweep_points(counter, ["padded"], [2], sweep_param="stride_bytes", sweep_values=[8, "64"])
    assert [p.params["stride_bytes"] for p in pts] == [8, 64]
    assert len(sweep_points(counter, ["padded"], [1, 2], sweep_param="stride_bytes")) == 12
    with pytest.raises(ParamError, match="stride_bytes"):
        sweep_points(counter, ["padded"], [2], sweep_param="stride_bytes", sweep_values=[7])
    with pytest.raises(ParamError, match="threads"):
        sweep_points(counter, ["padded"], [0])


def test_a_variant_that_ignores_the_swept_parameter_runs_once(counter):
    pts = sweep_points(counter, ["atomic", "padded"], [1, 2], sweep_param="stride_bytes", sweep_values=[8, 64, 128])
    assert [(p.variant, p.threads) for p in pts if p.variant == "atomic"] == [("atomic", 1), ("atomic", 2)]
    assert len([p for p in pts if p.variant == "padded"]) == 6
    assert counter.ignored_by("atomic") == ("stride_bytes",) and counter.ignored_by("padded") == ()
    rows = run(counter, "atomic", 1, duration=0.02, repeats=1).rows()
    assert rows[0]["ignores"] == "stride_bytes"


def test_every_used_by_names_real_variants():
    from kernlab.experiments import all_experiments
    for exp in all_experiments().values():
        for p in exp.params:
            assert p.used_by is None or set(p.used_by) <= set(exp.variant_names()), (exp.name, p.name)


def test_sweep_reports_every_point_in_order(counter):
    seen = []
    table = sweep(counter, ["atomic", "padded"], [1], duration=0.02, repeats=1, progress=False, warmup=0,
                  on_point=lambda i, total, result, tbl: seen.append((i, total, result.variant, len(tbl))))
    assert seen == [(0, 2, "atomic", 1), (1, 2, "padded", 2)] and len(table) == 2
