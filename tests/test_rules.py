"""Rule tables (primitives.rules) against the plain-Python reference: every matcher finds
the first matching rule of seeded tables and requests; the vector lane intrinsics and
the lowest-lane bit trick agree with numpy; the broken last-match matcher disagrees."""
import numba
import numpy as np
import pytest

from kernlab import atomics as A
from kernlab.experiments import _rule_tables as T
from kernlab.primitives import rules as R


@numba.njit
def _all_matchers(aos, soa, offsets, members, req, n_kinds, n_actions):
    out = np.empty((len(req), 5), np.int64)
    for q in range(len(req)):
        out[q, 0] = R.first_match_scalar(aos, len(aos), req, q)[0]
        out[q, 1] = R.first_match_branchless(soa, len(aos), req, q)[0]
        out[q, 2] = R.first_match_simd(soa, len(aos), req, q)[0]
        out[q, 3] = R.first_match_indexed(aos, offsets, members, req, q, n_kinds, n_actions)[0]
        out[q, 4] = R.last_match(aos, len(aos), req, q)[0]
    return out


def _table(n_rules, match_at, seed=3, requests=96):
    aos = T.make_rules(n_rules, 0.5, seed)
    req = T.make_requests(aos, match_at, seed, requests)
    offsets, members = R.build_index(aos, T.SUBJECTS, len(R.KINDS), len(R.ACTIONS))
    found = _all_matchers(aos, R.to_soa(aos), offsets, np.concatenate([members, [0]]).astype(np.int32), req,
                          len(R.KINDS), len(R.ACTIONS))
    rules = [tuple(r) for r in aos.tolist()]
    reference = np.array([T.reference_first_match(rules, tuple(q)) for q in req.tolist()])
    return aos, found, reference


@pytest.mark.parametrize("n_rules", [4, 17, 64, 333])
@pytest.mark.parametrize("match_at", T.MATCH_AT)
def test_every_correct_matcher_finds_the_references_first_match(n_rules, match_at):
    _, found, reference = _table(n_rules, match_at)
    for column, name in enumerate(["scalar", "branchless", "simd", "indexed"]):
        assert (found[:, column] == reference).all(), f"{name} differs from the reference"
    if match_at == "none":
        assert (reference == -1).all()


def test_match_at_places_the_deciding_rule():
    aos, _, first = _table(256, "first")
    _, _, last = _table(256, "last")
    assert np.median(first) < R.LANES and np.median(last) >= 256 - R.LANES


def test_order_matters_so_last_match_decides_differently():
    """Shadows (a broader rule right after, the opposite effect) make first and last
    match differ, in rule and in allow/deny."""
    aos, found, reference = _table(64, "uniform")
    differs = found[:, 4] != reference
    assert differs.mean() > 0.1
    assert (aos[found[differs, 4], R.EFFECT] != aos[reference[differs], R.EFFECT]).any()


@numba.njit
def _lanes(arr, col, x):
    return A.lanes_masked_eq(arr, 0, 1, col, x), A.lanes_in_range(arr, 2, 3, col, x)


def test_lane_intrinsics_agree_with_numpy():
    rng = np.random.default_rng(0)
    arr = rng.integers(-8, 8, size=(4, 48)).astype(np.int32)
    arr[3] = arr[2] + rng.integers(0, 6, size=48)
    for col in (0, 5, 32):
        for x in range(-9, 9):
            eq, rng_mask = _lanes(arr, col, x)
            block = arr[:, col:col + A.LANES]
            want_eq = ((x & block[0]) == block[1])
            want_rng = (block[2] <= x) & (x <= block[3])
            assert eq == int((want_eq * (1 << np.arange(A.LANES))).sum())
            assert rng_mask == int((want_rng * (1 << np.arange(A.LANES))).sum())


@numba.njit
def _lowest(masks):
    return np.array([R.lowest_lane(m) for m in masks])


def test_lowest_lane_is_the_lowest_set_bit():
    masks = np.arange(1, 1 << A.LANES, dtype=np.int64)
    want = np.array([(int(m) & -int(m)).bit_length() - 1 for m in masks])
    assert (_lowest(masks) == want).all()


def test_soa_padding_never_matches():
    aos = T.make_rules(5, 0.5, 1)
    soa = R.to_soa(aos)
    assert soa.shape == (R.SOA_ROWS, R.LANES)
    assert (soa[R.LEN_LO, 5:] > soa[R.LEN_HI, 5:]).all()


def test_a_value_that_does_not_fit_its_packed_slot_is_refused():
    """The simd matcher's packed subject/kind/action compare equals the three compares
    only when every value fits its slot: a subject of 2**16 would spill into none."""
    assert R.fits_packed(np.array([0, 2**16 - 1]), 5, 3)
    assert not R.fits_packed(np.array([0, 2**16]), 5, 3) and not R.fits_packed(1, 256, 0)
    aos = T.make_rules(5, 0.5, 1)
    aos[2, R.SUBJ_V] = 2**16
    with pytest.raises(ValueError, match="must fit"):
        R.to_soa(aos)
