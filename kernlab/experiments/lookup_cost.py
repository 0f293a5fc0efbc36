"""The `lookup_cost` experiment: where the nanoseconds of one RCU lookup go.

Five variants, each the one before plus one piece of `process_table`'s `rcu` read path,
all on process_table's own state and helpers (nothing re-implemented), so the difference
between two neighbours at one thread is what that piece costs:

    harness    the measuring loop around an op that does nothing
    key        + choosing the key and whether this op would update (key stream, RNG)
    lookup     + the RCU dereference, the pid's slot and the record's key word
    check      + verifying the whole record (poison, checksum, key) and tallying errors
    quiescent  + a quiescent state every ``qs_period`` lookups, the garbage sampler and the
               stalled-reader test: process_table's `rcu` op itself (read-only)

Run it at one thread; more threads add contention that is not a piece of the path.
Check: no lookup (from `lookup` on) saw a wrong, torn or poisoned record.
"""
from .. import atomics as A
from ..declaration import Experiment, Param, Variant
from ..jit import inline_kernel, kernel
from ..primitives import rcu
from ..primitives import records as R
from . import _read_mostly as RM
from . import process_table as PT


@inline_kernel
def _key(state, tid, n):
    key, _, _, _ = PT.decide_op(state[PT.KEYS], state[PT.RNG], state[PT.CFG][RM.C_UPDATE], tid, n)
    return key


@inline_kernel
def _find(state, key):
    """The dereference and the pid's slot: the record index."""
    v = rcu.dereference(state[PT.META])
    # relaxed: ordered after dereference's acquire (see process_table.lookup).
    return A.load_relaxed(state[PT.VERSIONS], (v, key))


@kernel
def op_harness(ctl, state, tid, n):
    return 0


@kernel
def op_key(ctl, state, tid, n):
    return _key(state, tid, n) >> 62          # 0 for every key: the key is still computed


@kernel
def op_lookup(ctl, state, tid, n):
    key = _key(state, tid, n)
    r = _find(state, key)
    # relaxed: as above. Only the key word: finding the record, not verifying it.
    if A.load_relaxed(state[PT.RECORDS], (r, R.KEY)) != key:
        R.count_error(state[PT.ERRORS], tid, R.WRONG_KEY)
    return 0


@kernel
def op_check(ctl, state, tid, n):
    key = _key(state, tid, n)
    v = rcu.dereference(state[PT.META])
    PT.lookup(state[PT.VERSIONS], state[PT.RECORDS], v, key, state[PT.ERRORS], tid)
    return 0


def check(state, per_thread_ops, params):
    problems = RM.lookup_problems(state[PT.ERRORS])
    return RM.verdict(problems, f"{int(per_thread_ops.sum()):,} operations; no lookup saw a bad record")


EXPERIMENT = Experiment(
    name="lookup_cost",
    title="Where the time of one RCU lookup goes",
    help="process_table's rcu read path built up piece by piece; run at one thread and compare neighbours.",
    params=(
        Param("table_size", int, 1024, "number of pids in the table", low=16, high=1_000_000, log_scale=True),
        PT.qs_period_param(used_by=("quiescent",)),
    ),
    variants=(
        Variant("harness", op_harness, "the measuring loop only"),
        Variant("key", op_key, "+ key and update decision"),
        Variant("lookup", op_lookup, "+ dereference, slot, record key"),
        Variant("check", op_check, "+ whole-record verification"),
        Variant("quiescent", PT.op_rcu, "+ quiescent states, sampler, stall test: process_table's rcu op"),
    ),
    setup=lambda threads, params: PT.setup(threads, {**PT.EXPERIMENT.resolve_params({}), **params,
                                                     "read_only": True}),
    check=check,
)
