from kernlab import claims
from kernlab.results import ResultTable


def _row(variant, threads, stride, rate):
    return {"experiment": "counter", "variant": variant, "threads": threads, "param_stride_bytes": stride,
            "ops_per_sec": rate, "oversubscribed": False}


def test_cache_line_verdicts_follow_the_numbers():
    judge = lambda rows: claims.judge("cache-line-alignment", ResultTable(rows))
    assert judge([]).verdict == "not measured"
    holds = judge([_row("padded", 2, 8, 100.0), _row("padded", 2, 64, 500.0), _row("padded", 2, 128, 510.0)])
    assert holds.verdict == "holds" and "5.00x" in holds.measured
    partly = judge([_row("padded", 2, 8, 100.0), _row("padded", 2, 64, 300.0), _row("padded", 2, 128, 600.0)])
    assert partly.verdict == "partly holds"
    fails = judge([_row("padded", 2, 8, 100.0), _row("padded", 2, 64, 105.0)])
    assert fails.verdict == "does not hold"
    assert judge([_row("padded", 1, 8, 100.0), _row("padded", 1, 64, 500.0)]).verdict == "not measured"


def test_every_claim_names_a_registered_experiment():
    from kernlab.experiments import all_experiments
    assert claims.all_claims()
    for c in claims.all_claims().values():
        assert c.experiment in all_experiments() and c.says and c.section
