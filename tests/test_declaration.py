"""kernlab.declaration: parameters (parse, validate, one-line errors), variants, experiments."""
import pytest

from kernlab.declaration import Param, ParamError
from kernlab.experiments import all_experiments, get


def test_int_range_message_names_parameter_and_range():
    p = Param("table_size", int, 16, "entries", low=16, high=1_000_000)
    assert p.parse("64") == 64
    with pytest.raises(ParamError, match=r"parameter 'table_size' must be an integer in \[16, 1,000,000\], got 8"):
        p.validate(8)
    with pytest.raises(ParamError, match="table_size"):
        p.parse("abc")
    with pytest.raises(ParamError):
        p.parse("2.5")


def test_power_of_two_choices_bool_float():
    shards = Param("shards", int, 8, "shards", low=1, high=1024, power_of_two=True)
    assert shards.validate(16) == 16
    with pytest.raises(ParamError, match="a power of two"):
        shards.validate(12)
    pick = Param("mode", str, "a", "mode", choices=("a", "b"))
    with pytest.raises(ParamError, match="one of a, b"):
        pick.validate("c")
    flag = Param("stall", bool, False, "stall")
    assert flag.parse("yes") is True and flag.parse("0") is False
    with pytest.raises(ParamError):
        flag.parse("maybe")
    ratio = Param("read_ratio", float, 0.9, "reads", low=0.5, high=0.99999)
    assert ratio.parse("0.99") == 0.99
    for bad in ("1.5", "nan", "inf"):
        with pytest.raises(ParamError, match="read_ratio"):
            ratio.parse(bad)


def test_experiment_resolves_and_rejects(counter):
    assert counter.resolve_params({})["stride_bytes"] in (8, 16, 32, 64, 128, 256)
    assert counter.resolve_params({"stride_bytes": "128"})["stride_bytes"] == 128
    with pytest.raises(ParamError, match="unknown parameter 'nope'.*allowed: stride_bytes"):
        counter.resolve_params({"nope": 1})
    with pytest.raises(ParamError, match="unknown variant 'x'.*allowed: racy, atomic"):
        counter.variant("x")
    with pytest.raises(ParamError, match="unknown experiment 'nope'"):
        get("nope")


def test_every_declaration_is_well_formed():
    for exp in all_experiments().values():
        assert exp.variants and len(set(exp.variant_names())) == len(exp.variants)
        for name in exp.default_variants:
            exp.variant(name)
        for p in exp.params:
            assert p.validate(p.default) == p.default, p.name
            assert p.help
