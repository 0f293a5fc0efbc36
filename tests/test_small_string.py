"""The `small_string` experiment and its message table: correct variants pass, the
off-by-one is caught on the neighbouring slot, the counts behind the metrics, the
shipped table and the claims' judges."""
import json

import pytest

from kernlab.experiments import _messages as M
from kernlab.experiments import get
from kernlab.runner import run_trial
from kernlab.tables import ResultTable
from kernlab.workspace import CHECKOUT

CORRECT = ["heap", "inline", "interned"]


@pytest.fixture(scope="module")
def small_string():
    return get("small_string")


@pytest.mark.stress
@pytest.mark.parametrize("variant", CORRECT)
@pytest.mark.parametrize("threads", [1, 2])
def test_stress_correct_variants_pass(small_string, variant, threads):
    trial = run_trial(small_string, variant, threads, small_string.resolve_params(), 0.1, sample_every=64)
    assert trial.check.passed, trial.check.detail
    assert trial.per_thread_ops.min() > 0


@pytest.mark.stress
def test_stress_inline_overflow_is_caught(small_string, caught):
    trial = caught(lambda: run_trial(small_string, "inline_overflow", 2, small_string.resolve_params(), 0.1), 3,
                   "the inline string's off-by-one")
    assert trial.metrics["corrupt_neighbours"] > 0 and "neighbouring" in trial.check.detail


def test_allocations_follow_the_share_that_fits(small_string):
    got = {v: run_trial(small_string, v, 1, small_string.resolve_params(), 0.05).metrics for v in CORRECT}
    share = got["inline"]["inline_share"]
    assert abs(share - got["inline"]["inline_share_of_table"]) < 0.05     # the stream samples the table evenly
    assert got["heap"]["allocs_per_op"] == 2.0 and got["interned"]["allocs_per_op"] == 0.0
    assert got["inline"]["allocs_per_op"] == pytest.approx(2 * (1 - share))


def test_bare_strerror_messages_fit_more_often_than_formatted_ones(small_string):
    share = lambda which: run_trial(small_string, "inline", 1, small_string.resolve_params({"messages": which}),
                                    0.03).metrics["inline_share_of_table"]
    assert share("strerror") > share("formatted")


def test_the_shipped_table_is_the_one_used_and_says_how_it_was_made():
    shipped = json.loads((CHECKOUT / "data" / M.TABLE_FILE).read_text())
    assert "message_table" in shipped["how"] and shipped["made_with"]["libc"]
    assert {m["kind"] for m in shipped["messages"]} == {"strerror", "path", "pid"}
    assert M.message_texts("all") == [m["text"] for m in shipped["messages"]]
    fresh = M.message_table()        # the generator is deterministic (seeded paths and pids)
    assert [m["kind"] for m in fresh["messages"]][:4] == ["strerror", "path", "pid", "pid"]


def test_message_arrays_pad_each_message_to_words():
    text, offsets, lengths, sums = M.message_arrays("strerror")
    first = bytes(text[offsets[0]:offsets[0] + (lengths[0] + 7) // 8].view("u1"))
    assert first.rstrip(b"\0").decode() == M.message_texts("strerror")[0]


def test_claims_are_judged_from_the_table(claim_row):
    from kernlab.claims import judge

    def row(variant, rate, share):
        r = claim_row("small_string", variant, 1, rate, messages="all", slots=64)
        r["metric_inline_share"] = share
        return r
    table = ResultTable([row("inline", 100e6, 0.7), row("heap", 30e6, 0.7)])
    assert judge("inline-string-share", table).verdict == "holds"
    assert judge("inline-string-speed", table).verdict == "holds"
    low = ResultTable([row("inline", 40e6, 0.2), row("heap", 38e6, 0.2)])
    assert judge("inline-string-share", low).verdict == "does not hold"
    assert judge("inline-string-speed", low).verdict == "does not hold"
