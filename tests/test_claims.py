from kernlab import claims
from kernlab.tables import ResultTable


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


# ----------------------------------------------------------------------------- read-mostly judges: conditions

def _pt(variant, threads, rate, read_ratio=0.999, table_size=1024, **more):
    return {"experiment": "process_table", "variant": variant, "threads": threads, "ops_per_sec": rate,
            "oversubscribed": False, "param_read_ratio": read_ratio, "param_read_only": False,
            "param_table_size": table_size, "param_key_skew": 0.0, "param_stall_us": 0, "param_shards": 8,
            "param_shard_index": "mask", **{f"param_{k}": v for k, v in more.items()}}


def test_rcu_vs_dashmap_judges_the_most_read_heavy_conditions_and_names_them():
    rows = [_pt("rcu", 2, 300.0), _pt("sharded", 2, 100.0), _pt("rcu_refcount", 2, 120.0),
            # a write-heavier mix in the same table: rcu loses there; it must not be mixed in
            _pt("rcu", 2, 50.0, read_ratio=0.9), _pt("sharded", 2, 100.0, read_ratio=0.9),
            # sharded alone at another size: nothing to compare with
            _pt("sharded", 2, 1.0, table_size=64)]
    v = claims.judge("rcu-vs-dashmap-reads", ResultTable(rows))
    assert v.verdict == "partly holds"
    assert "rcu 3.00x sharded, rcu_refcount 1.20x" in v.measured
    assert "read_ratio 0.999" in v.measured and "table_size 1024" in v.measured and "0.9," not in v.measured
    assert "rcu_refcount" in v.why and "1.20x" in v.why          # the catalogue's Arc clone, reported beside


def test_rcu_vs_dashmap_says_when_rcu_refcount_was_not_measured():
    v = claims.judge("rcu-vs-dashmap-reads", ResultTable([_pt("rcu", 1, 200.0), _pt("sharded", 1, 100.0)]))
    assert "rcu_refcount not measured" in v.measured and "Run rcu_refcount too" in v.why


def test_read_ratio_threshold_compares_within_one_table_and_thread_count():
    rows = [_pt("rcu", 2, 150.0, 0.999), _pt("rwlock", 2, 100.0, 0.999),
            _pt("rcu", 2, 80.0, 0.9), _pt("rwlock", 2, 100.0, 0.9),
            # another table size, one read ratio only: not a sweep, must not be mixed in
            _pt("rcu", 2, 1.0, 0.9, table_size=16), _pt("rwlock", 2, 1000.0, 0.9, table_size=16),
            # more threads but no sweep: the judge stays with the sweep at 2 threads
            _pt("rcu", 1, 1.0, 0.9), _pt("rwlock", 1, 1.0, 0.9), _pt("sharded", 4, 1.0)]
    v = claims.judge("rcu-read-write-threshold", ResultTable(rows))
    assert v.verdict == "holds", v
    assert "read_ratio 0.9: rcu 0.80x rwlock; read_ratio 0.999: rcu 1.50x rwlock" in v.measured
    assert "(2 threads, table_size 1024" in v.measured


def test_shard_claims_judge_one_set_of_conditions_and_name_it():
    rows = [_pt("sharded", 2, 110.0, shard_index="mask", shards=16),
            _pt("sharded", 2, 100.0, shard_index="modulo", shards=16),
            # modulo only at another table size: cannot be compared
            _pt("sharded", 2, 10.0, table_size=64, shard_index="modulo", shards=16)]
    v = claims.judge("shard-mask-vs-modulo", ResultTable(rows))
    assert v.verdict == "holds" and "+10.0%" in v.measured and "shards 16" in v.measured
    assert "table_size 1024" in v.measured
    # rows of another experiment with a `sharded` variant are not this claim's
    fd = [{**r, "experiment": "fd_table"} for r in rows]
    assert claims.judge("shard-mask-vs-modulo", ResultTable(fd)).verdict == "not measured"


def test_epoch_claim_judges_the_hottest_keys_measured():
    def fd(variant, rate, skew):
        return {"experiment": "fd_table", "variant": variant, "threads": 2, "ops_per_sec": rate,
                "oversubscribed": False, "param_read_ratio": 0.999, "param_processes": 16, "param_fds": 64,
                "param_key_skew": skew}
    rows = [fd("epoch", 140.0, 0.99), fd("sharded", 100.0, 0.99), fd("epoch", 90.0, 0.0), fd("sharded", 100.0, 0.0)]
    v = claims.judge("epoch-fd-lookups", ResultTable(rows))
    assert v.verdict == "holds" and "+40%" in v.measured and "key_skew 0.99" in v.measured


def test_seqlock_claim_prefers_the_rows_without_a_writer():
    def ss(variant, rate, read_only, read_ratio=0.99):
        return {"experiment": "stats_snapshot", "variant": variant, "threads": 2, "ops_per_sec": rate,
                "oversubscribed": False, "param_fields": 8, "param_read_only": read_only,
                "param_read_ratio": read_ratio, "param_writers": "one"}
    rows = [ss("seqlock", 95.0, True), ss("unsync", 100.0, True),
            ss("seqlock", 30.0, False), ss("unsync", 100.0, False)]
    v = claims.judge("seqlock-zero-overhead-reads", ResultTable(rows))
    assert v.verdict == "holds" and "0.95x" in v.measured and "no writer" in v.measured
    v = claims.judge("seqlock-zero-overhead-reads", ResultTable(rows[2:]))
    assert v.verdict == "does not hold" and "read_ratio 0.99" in v.measured and "writers one" in v.measured
