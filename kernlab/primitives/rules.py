"""First-match rule tables: the permission check a kernel makes on every syscall.

Algorithm
    A request (subject, resource kind, action, path prefix, path length, port) is
    matched against R ordered rules; the *first* rule that matches decides (allow or
    deny) and no match means deny. Every field of a rule is a masked compare or a range,
    so one shape serves every field:

        subject, kind, action, path words   (x & MASK) == VALUE   (mask 0, value 0: any)
        path length, port                   LOW <= x <= HIGH      (0 .. 2**31-1: any)

    A path rule is a prefix: its first ``PATH_BYTES`` bytes (two little-endian int32
    words) compared under a byte mask as long as the rule's prefix, plus a minimum
    length; a network rule is a port range. Three layouts of one table:

    ``aos``    array of structs, ``(R, FIELDS)`` int32: a rule is one 64-byte row, read
               field by field with an early exit (``first_match_scalar``);
    ``soa``    structure of arrays, ``(FIELDS, R_padded)`` int32: a field is a row, so
               LANES consecutive rules' values of one field are one vector load.
               ``first_match_branchless`` compares every field of a rule without a
               branch; ``first_match_simd`` compares LANES rules per field in one vector
               compare (``atomics.lanes_masked_eq`` / ``lanes_in_range``), ANDs the lane
               masks, stops at the first block with a match and takes its lowest lane.
               Two more rows serve it: subject, kind and action packed into one word
               (``SAK_M``/``SAK_V``, slots of SAK_BITS), compared first with the first
               path word, so that a block none of whose rules can match on those (most
               blocks) costs two vector compares and a branch, as a rule costs the
               scalar scan a compare and a branch.
               Padding rules (to a multiple of LANES) never match (empty length range).
    ``index``  CSR lists of the rules that can match each (subject, kind, action), in
               table order (``build_index``): only the path/port fields are left to
               compare (``first_match_indexed``). It applies when those three fields come
               from small known sets and the table changes rarely (it is rebuilt on every
               change); a wildcard subject rule lands in every subject's list.

    ``last_match`` (broken on purpose) returns *a* matching rule, the last one, which
    decides differently whenever an allow and a deny rule overlap.

Invariants
    Every matcher returns ``(rule, examined)``: the index of the first matching rule in
    table order (-1 for none) and how many rules it compared. For any table and request
    the scalar, branchless, simd and indexed matchers return the same rule.

Memory ordering
    None: the table is built before the run and read-only while threads check requests
    (the runner's thread start orders setup's writes before every read).

Progress guarantee
    Wait-free: at most R rules compared per check.

References
    Linux LSM hooks (security/) and AppArmor's ordered rules; Landlock's path-beneath
    rules; BSD pf's "last match" versus iptables' "first match" semantics (the broken
    variant is a first-match table read with last-match semantics).
"""
import numpy as np

from .. import atomics as A
from ..jit import inline_kernel

# Rule fields (a column of ``aos``, a row of ``soa``).
(SUBJ_M, SUBJ_V, KIND_M, KIND_V, ACT_M, ACT_V, P0_M, P0_V, P1_M, P1_V,
 LEN_LO, LEN_HI, PORT_LO, PORT_HI, EFFECT) = range(15)
FIELDS = 16                     # 15 used: an aos rule is one 64-byte row
SAK_M, SAK_V = FIELDS, FIELDS + 1   # soa only: subject, kind, action packed in one word
SOA_ROWS = FIELDS + 2
SAK_BITS = (16, 8, 8)           # slots of subject (high), kind, action (low) in a packed word
# Request fields (a row of the requests array).
Q_SUBJ, Q_KIND, Q_ACT, Q_P0, Q_P1, Q_LEN, Q_PORT = range(7)
REQUEST_FIELDS = 8
DENY, ALLOW = 0, 1
KINDS = ("file", "directory", "network", "process", "ipc", "system")
ACTIONS = ("read", "write", "exec", "connect")
PATH_BYTES = 8
ANY_HIGH = np.int32(2**31 - 1)
LANES = A.LANES


@inline_kernel
def _matches_scalar(aos, r, req, q):
    """Rule r against request q, field by field, leaving at the first mismatch."""
    if (req[q, Q_SUBJ] & aos[r, SUBJ_M]) != aos[r, SUBJ_V]:
        return False
    if (req[q, Q_KIND] & aos[r, KIND_M]) != aos[r, KIND_V]:
        return False
    if (req[q, Q_ACT] & aos[r, ACT_M]) != aos[r, ACT_V]:
        return False
    if (req[q, Q_P0] & aos[r, P0_M]) != aos[r, P0_V] or (req[q, Q_P1] & aos[r, P1_M]) != aos[r, P1_V]:
        return False
    if req[q, Q_LEN] < aos[r, LEN_LO] or req[q, Q_LEN] > aos[r, LEN_HI]:
        return False
    return aos[r, PORT_LO] <= req[q, Q_PORT] <= aos[r, PORT_HI]


@inline_kernel
def first_match_scalar(aos, n_rules, req, q):
    """Array of structs, one rule at a time, early exit at the first match."""
    for r in range(n_rules):
        if _matches_scalar(aos, r, req, q):
            return r, r + 1
    return -1, n_rules


@inline_kernel
def last_match(aos, n_rules, req, q):
    """Broken on purpose: scans from the end, so it returns the *last* matching rule."""
    for i in range(n_rules):
        r = n_rules - 1 - i
        if _matches_scalar(aos, r, req, q):
            return r, i + 1
    return -1, n_rules


@inline_kernel
def _matches_soa(soa, r, s, k, a, p0, p1, ln, port):
    """Rule r as one AND of every field's comparison: no branch between fields."""
    ok = (s & soa[SUBJ_M, r]) == soa[SUBJ_V, r]
    ok &= (k & soa[KIND_M, r]) == soa[KIND_V, r]
    ok &= (a & soa[ACT_M, r]) == soa[ACT_V, r]
    ok &= (p0 & soa[P0_M, r]) == soa[P0_V, r]
    ok &= (p1 & soa[P1_M, r]) == soa[P1_V, r]
    ok &= (soa[LEN_LO, r] <= ln) & (ln <= soa[LEN_HI, r])
    ok &= (soa[PORT_LO, r] <= port) & (port <= soa[PORT_HI, r])
    return ok


@inline_kernel
def first_match_branchless(soa, n_rules, req, q):
    """Structure of arrays; every field of a rule compared without branches."""
    s, k, a, p0, p1, ln, port = (req[q, Q_SUBJ], req[q, Q_KIND], req[q, Q_ACT], req[q, Q_P0],
                                 req[q, Q_P1], req[q, Q_LEN], req[q, Q_PORT])
    for r in range(n_rules):
        if _matches_soa(soa, r, s, k, a, p0, p1, ln, port):
            return r, r + 1
    return -1, n_rules


@inline_kernel
def lowest_lane(mask):
    """Index of the lowest set bit of a non-zero lane mask: popcount(isolated bit - 1)
    with the SWAR bit count (no `llvm.cttz`, see atomics' vector lanes)."""
    v = (mask & -mask) - 1
    v = v - ((v >> 1) & 0x5555555555555555)
    v = (v & 0x3333333333333333) + ((v >> 2) & 0x3333333333333333)
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (v * 0x0101010101010101) >> 56


@inline_kernel
def packed_sak(s, k, a):
    """Subject, kind and action in one word (each must fit its slot: see ``to_soa``)."""
    return (s << (SAK_BITS[1] + SAK_BITS[2])) | (k << SAK_BITS[2]) | a


@inline_kernel
def first_match_simd(soa, n_rules, req, q):
    """Blocks of LANES rules. Each block: vector compares of the packed subject, kind
    and action and of the first path word, then a branch (most blocks end here; on
    the default tables about one block in 200 goes on when no rule matches: a rarely
    taken branch is a rarely mispredicted one), then the other fields of the lanes
    left; early exit at the first block with a match, whose lowest set lane is the
    first matching rule."""
    sak = packed_sak(req[q, Q_SUBJ], req[q, Q_KIND], req[q, Q_ACT])
    p0, p1, ln, port = req[q, Q_P0], req[q, Q_P1], req[q, Q_LEN], req[q, Q_PORT]
    for col in range(0, n_rules, LANES):
        m = A.lanes_masked_eq(soa, SAK_M, SAK_V, col, sak) & A.lanes_masked_eq(soa, P0_M, P0_V, col, p0)
        if m != 0:
            m &= A.lanes_masked_eq(soa, P1_M, P1_V, col, p1)
            m &= A.lanes_in_range(soa, LEN_LO, LEN_HI, col, ln)
            m &= A.lanes_in_range(soa, PORT_LO, PORT_HI, col, port)
            if m != 0:
                return col + lowest_lane(m), col + LANES
    return -1, (n_rules + LANES - 1) // LANES * LANES


@inline_kernel
def index_key(req, q, n_kinds, n_actions):
    return (req[q, Q_SUBJ] * n_kinds + req[q, Q_KIND]) * n_actions + req[q, Q_ACT]


@inline_kernel
def first_match_indexed(aos, offsets, members, req, q, n_kinds, n_actions):
    """The CSR list of rules that can match (subject, kind, action), in table order:
    only the path and port fields are left to compare."""
    key = index_key(req, q, n_kinds, n_actions)
    begin, end = offsets[key], offsets[key + 1]
    p0, p1, ln, port = req[q, Q_P0], req[q, Q_P1], req[q, Q_LEN], req[q, Q_PORT]
    for i in range(begin, end):
        r = members[i]
        if ((p0 & aos[r, P0_M]) == aos[r, P0_V] and (p1 & aos[r, P1_M]) == aos[r, P1_V]
                and aos[r, LEN_LO] <= ln <= aos[r, LEN_HI] and aos[r, PORT_LO] <= port <= aos[r, PORT_HI]):
            return r, i - begin + 1
    return -1, end - begin


# ----------------------------------------------------------------------------- layouts (setup time)

def fits_packed(subject, kind, action) -> bool:
    """Whether values (arrays or ints) fit the slots of a packed subject/kind/action
    word: only then is one masked compare of the packed words the three compares'
    AND (a request field with bits above its slot would leak into the next one)."""
    return all(bool(np.all((0 <= np.asarray(v)) & (np.asarray(v) < (1 << bits))))
               for v, bits in zip((subject, kind, action), SAK_BITS))


def _pack(s, k, a):
    return (s.astype(np.int64) << (SAK_BITS[1] + SAK_BITS[2])) | (k.astype(np.int64) << SAK_BITS[2]) | a


def to_soa(aos: np.ndarray) -> np.ndarray:
    """``(SOA_ROWS, R rounded up to LANES)`` int32; padding rules never match."""
    n = len(aos)
    padded = (n + LANES - 1) // LANES * LANES
    soa = np.zeros((SOA_ROWS, max(padded, LANES)), np.int32)
    soa[:FIELDS, :n] = aos.T
    if not fits_packed(aos[:, SUBJ_V], aos[:, KIND_V], aos[:, ACT_V]):
        raise ValueError(f"rule subject/kind/action values must fit {SAK_BITS} bits to be packed")
    slots = [(1 << b) - 1 for b in SAK_BITS]
    masks = [aos[:, f] & slot for f, slot in zip((SUBJ_M, KIND_M, ACT_M), slots)]
    soa[SAK_M, :n] = _pack(*masks).astype(np.uint32).view(np.int32)
    soa[SAK_V, :n] = _pack(aos[:, SUBJ_V], aos[:, KIND_V], aos[:, ACT_V]).astype(np.uint32).view(np.int32)
    soa[LEN_LO, n:], soa[LEN_HI, n:] = 1, 0          # an empty length range: never matches
    return soa


def build_index(aos: np.ndarray, n_subjects: int, n_kinds: int, n_actions: int):
    """``(offsets, members)``: for key (subject, kind, action), members[offsets[key]:
    offsets[key+1]] are the rules whose subject/kind/action fields accept it, in order."""
    keys = np.arange(n_subjects * n_kinds * n_actions)
    subj, rest = np.divmod(keys, n_kinds * n_actions)
    kind, act = np.divmod(rest, n_actions)
    ok = (((subj[:, None] & aos[None, :, SUBJ_M]) == aos[None, :, SUBJ_V])
          & ((kind[:, None] & aos[None, :, KIND_M]) == aos[None, :, KIND_V])
          & ((act[:, None] & aos[None, :, ACT_M]) == aos[None, :, ACT_V]))
    offsets = np.zeros(len(keys) + 1, np.int64)
    offsets[1:] = np.cumsum(ok.sum(axis=1))
    members = np.nonzero(ok)[1].astype(np.int32)     # row-major: per key, in rule order
    return offsets, members
