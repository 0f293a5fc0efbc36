"""Seeded rule tables and requests for `permission_check`, and the plain-Python reference.

A table is built of *specific* rules (a subject, a kind, often an action, a path prefix
or a port range), about half of them followed at once by a *shadow*: the same subject
and kind, any action, a shorter prefix or a wider port range, and the opposite effect
(allow /home/al... then deny /home). Order matters there: a request under the longer
prefix matches both, and only the first decides. Requests are made to match a chosen
*target* rule (``match_at``: in the first block of LANES rules, anywhere, in the last
block) or no rule at all. No ``EXPERIMENT`` here, so the registry skips this module.

``reference_first_match`` is the oracle the check replays requests against: plain
Python over plain tuples, sharing no code with the kernels.
"""
from __future__ import annotations

import numpy as np

from ..primitives import rules as R

SUBJECTS = 64
N_REQUESTS = 1024
SHADOW_SHARE = 0.5
NETWORK_SHARE = 0.25
MAX_PATH = 64
MATCH_AT = ("first", "uniform", "last", "none")


def _word(chars: bytes, offset: int) -> int:
    return int.from_bytes(chars[offset:offset + 4].ljust(4, b"\0"), "little", signed=True)


def _prefix_fields(prefix: bytes) -> tuple:
    """(P0_M, P0_V, P1_M, P1_V) for a path prefix of up to PATH_BYTES bytes."""
    mask = (b"\xff" * len(prefix)).ljust(R.PATH_BYTES, b"\0")
    padded = prefix.ljust(R.PATH_BYTES, b"\0")
    return _word(mask, 0), _word(padded, 0), _word(mask, 4), _word(padded, 4)


def _rule(subject, kind, action, prefix, port_lo, port_hi, effect) -> list:
    row = [0] * R.FIELDS
    if subject is not None:
        row[R.SUBJ_M], row[R.SUBJ_V] = -1, subject
    row[R.KIND_M], row[R.KIND_V] = -1, kind
    if action is not None:
        row[R.ACT_M], row[R.ACT_V] = -1, action
    row[R.P0_M], row[R.P0_V], row[R.P1_M], row[R.P1_V] = _prefix_fields(prefix)
    row[R.LEN_LO], row[R.LEN_HI] = len(prefix), int(R.ANY_HIGH)
    row[R.PORT_LO], row[R.PORT_HI] = port_lo, port_hi
    row[R.EFFECT] = effect
    return row


def make_rules(n_rules: int, deny_share: float, seed: int) -> np.ndarray:
    """``(n_rules, FIELDS)`` int32, array of structs."""
    rng = np.random.default_rng(seed)
    network = R.KINDS.index("network")
    rows = []
    while len(rows) < n_rules:
        subject = int(rng.integers(SUBJECTS)) if rng.random() < 0.9 else None
        action = int(rng.integers(len(R.ACTIONS))) if rng.random() < 0.7 else None
        effect = R.DENY if rng.random() < deny_share else R.ALLOW
        if rng.random() < NETWORK_SHARE:
            lo = int(rng.integers(1, 65000))
            hi = lo + int(rng.integers(0, 64))
            rows.append(_rule(subject, network, action, b"", lo, hi, effect))
            shadow = _rule(subject, network, None, b"", max(lo - 64, 1), hi + 64, 1 - effect)
        else:
            kind = int(rng.choice([k for k in range(len(R.KINDS)) if k != network]))
            length = int(rng.integers(5, R.PATH_BYTES + 1))
            prefix = b"/" + bytes(rng.integers(ord("a"), ord("z") + 1, size=length - 1).astype(np.uint8))
            rows.append(_rule(subject, kind, action, prefix, 0, int(R.ANY_HIGH), effect))
            shadow = _rule(subject, kind, None, prefix[:length - 2], 0, int(R.ANY_HIGH), 1 - effect)
        if rng.random() < SHADOW_SHARE and len(rows) < n_rules:
            rows.append(shadow)
    return np.array(rows[:n_rules], np.int32)


def _request_for(rule, rng) -> list:
    """A request that rule ``rule`` (an aos row) matches; wildcards filled at random."""
    q = [0] * R.REQUEST_FIELDS
    q[R.Q_SUBJ] = int(rule[R.SUBJ_V]) if rule[R.SUBJ_M] else int(rng.integers(SUBJECTS))
    q[R.Q_KIND] = int(rule[R.KIND_V])
    q[R.Q_ACT] = int(rule[R.ACT_V]) if rule[R.ACT_M] else int(rng.integers(len(R.ACTIONS)))
    prefix_len = int(rule[R.LEN_LO])
    path = _path(rng, int(rng.integers(max(prefix_len, 1), MAX_PATH + 1)))
    value = int(rule[R.P0_V]).to_bytes(4, "little", signed=True) + int(rule[R.P1_V]).to_bytes(4, "little", signed=True)
    path = value[:prefix_len] + path[prefix_len:]
    q[R.Q_P0], q[R.Q_P1], q[R.Q_LEN] = _word(path, 0), _word(path, 4), max(len(path), prefix_len)
    q[R.Q_PORT] = int(rng.integers(rule[R.PORT_LO], rule[R.PORT_HI] + 1)) if rule[R.KIND_V] == R.KINDS.index(
        "network") else 0
    return q


def _path(rng, length) -> bytes:
    return b"/" + bytes(rng.integers(ord("a"), ord("z") + 1, size=max(length - 1, 0)).astype(np.uint8))


def _random_request(rng) -> list:
    q = [0] * R.REQUEST_FIELDS
    q[R.Q_SUBJ], q[R.Q_KIND], q[R.Q_ACT] = (int(rng.integers(SUBJECTS)), int(rng.integers(len(R.KINDS))),
                                            int(rng.integers(len(R.ACTIONS))))
    path = b"~" + _path(rng, int(rng.integers(8, MAX_PATH)))        # no rule's prefix starts with ~
    q[R.Q_P0], q[R.Q_P1], q[R.Q_LEN] = _word(path, 0), _word(path, 4), len(path)
    q[R.Q_PORT] = int(rng.integers(1, 65536)) if q[R.Q_KIND] == R.KINDS.index("network") else 0
    return q


def first_matches(aos: np.ndarray, req: np.ndarray) -> np.ndarray:
    """First matching rule of every request, vectorised (-1: none). For building
    requests only; the check's oracle is ``reference_first_match``."""
    ok = np.ones((len(req), len(aos)), bool)
    for qf, m, v in ((R.Q_SUBJ, R.SUBJ_M, R.SUBJ_V), (R.Q_KIND, R.KIND_M, R.KIND_V), (R.Q_ACT, R.ACT_M, R.ACT_V),
                     (R.Q_P0, R.P0_M, R.P0_V), (R.Q_P1, R.P1_M, R.P1_V)):
        ok &= (req[:, qf, None] & aos[None, :, m]) == aos[None, :, v]
    for qf, lo, hi in ((R.Q_LEN, R.LEN_LO, R.LEN_HI), (R.Q_PORT, R.PORT_LO, R.PORT_HI)):
        ok &= (aos[None, :, lo] <= req[:, qf, None]) & (req[:, qf, None] <= aos[None, :, hi])
    return np.where(ok.any(axis=1), ok.argmax(axis=1), -1)


def make_requests(aos: np.ndarray, match_at: str, seed: int, n: int = N_REQUESTS) -> np.ndarray:
    """``(n, REQUEST_FIELDS)`` int32 requests whose deciding rule sits where ``match_at`` says."""
    rng = np.random.default_rng(seed + 7)
    n_rules = len(aos)
    if match_at == "none":
        out = []
        for _ in range(20):
            batch = np.array([_random_request(rng) for _ in range(n)], np.int32)
            out.extend(batch[first_matches(aos, batch) < 0])
            if len(out) >= n:
                return np.array(out[:n], np.int32)
        raise ValueError("parameter 'match_at': no request misses every rule of this table")
    low, high = {"first": (0, min(n_rules, R.LANES)), "uniform": (0, n_rules),
                 "last": (max(n_rules - R.LANES, 0), n_rules)}[match_at]
    targets = rng.integers(low, high, size=n)
    return np.array([_request_for(aos[t], rng) for t in targets], np.int32)


def reference_first_match(rules: list, request: tuple) -> int:
    """The oracle: plain Python, the rule list in order, the first rule whose every field
    accepts the request (-1: none). ``rules`` are tuples from ``aos.tolist()``."""
    s, k, a, p0, p1, length, port = request[:7]
    for i, r in enumerate(rules):
        if ((s & r[R.SUBJ_M]) == r[R.SUBJ_V] and (k & r[R.KIND_M]) == r[R.KIND_V]
                and (a & r[R.ACT_M]) == r[R.ACT_V] and (p0 & r[R.P0_M]) == r[R.P0_V]
                and (p1 & r[R.P1_M]) == r[R.P1_V] and r[R.LEN_LO] <= length <= r[R.LEN_HI]
                and r[R.PORT_LO] <= port <= r[R.PORT_HI]):
            return i
    return -1


def reference_first_matches(aos: np.ndarray, requests: np.ndarray, qs, chunk: int = 256) -> np.ndarray:
    """The oracle's answers for many requests at once, by numpy (no compiled code): the
    same field tests as ``reference_first_match`` over a requests x rules matrix, the
    first rule that passes all of them (-1: none). Fast enough to check every decision."""
    rules = aos.astype(np.int64)
    out = np.empty(len(qs), np.int64)
    for start in range(0, len(qs), chunk):
        req = requests[np.asarray(qs[start:start + chunk])].astype(np.int64)[:, None, :]
        field = lambda i, req=req: req[:, :, i]
        ok = (field(R.Q_SUBJ) & rules[:, R.SUBJ_M]) == rules[:, R.SUBJ_V]
        ok &= (field(R.Q_KIND) & rules[:, R.KIND_M]) == rules[:, R.KIND_V]
        ok &= (field(R.Q_ACT) & rules[:, R.ACT_M]) == rules[:, R.ACT_V]
        ok &= (field(R.Q_P0) & rules[:, R.P0_M]) == rules[:, R.P0_V]
        ok &= (field(R.Q_P1) & rules[:, R.P1_M]) == rules[:, R.P1_V]
        ok &= (rules[:, R.LEN_LO] <= field(R.Q_LEN)) & (field(R.Q_LEN) <= rules[:, R.LEN_HI])
        ok &= (rules[:, R.PORT_LO] <= field(R.Q_PORT)) & (field(R.Q_PORT) <= rules[:, R.PORT_HI])
        out[start:start + chunk] = np.where(ok.any(axis=1), ok.argmax(axis=1), -1)
    return out
