"""The `counter` experiment: T threads count as fast as they can, six ways.

Shared state (built fresh for every trial):
    counter  one int64 on its own cache-line pair (the shared counter)
    lock     one int64 on its own cache-line pair (the spinlock word)
    packed   per-thread counters 8 bytes apart
    padded   per-thread counters `stride_bytes` apart
"""
import numpy as np

from .. import atomics as A
from ..experiment import Check, Experiment, Param, Variant
from ..jit import kernel
from ..layout import aligned_zeros, cache_line_size, slot_array
from ..primitives import counters as C

PACKED_STRIDE_BYTES = 8


@kernel
def op_racy(ctl, state, tid, n):
    C.racy_increment(state[0], 0)
    return 0


@kernel
def op_atomic(ctl, state, tid, n):
    C.atomic_increment(state[0], 0)
    return 0


@kernel
def op_cas(ctl, state, tid, n):
    return C.cas_increment(state[0], 0)


@kernel
def op_spinlock(ctl, state, tid, n):
    return C.locked_increment(state[1], state[0], 0, ctl)


@kernel
def op_packed(ctl, state, tid, n):
    C.slot_increment(state[2], tid)
    return 0


@kernel
def op_padded(ctl, state, tid, n):
    C.slot_increment(state[3], tid)
    return 0


def setup(threads, params):
    counter = aligned_zeros(16, np.int64)
    lock = aligned_zeros(16, np.int64)
    packed = slot_array(threads, PACKED_STRIDE_BYTES)
    padded = slot_array(threads, params["stride_bytes"])
    return counter, lock, packed, padded


def _observed(state):
    counter, _, packed, padded = state
    # A trial runs one variant, so exactly one of the three stores has counted.
    return int(counter[0]) + int(packed[:, 0].sum()) + int(padded[:, 0].sum())


def check(state, per_thread_ops, params):
    performed = int(per_thread_ops.sum())
    observed = _observed(state)
    if observed == performed:
        return Check(True, f"count {observed:,} = operations performed")
    lost = performed - observed
    return Check(False, f"lost {lost:,} of {performed:,} updates ({lost / max(performed, 1):.2%})")


def metrics(state, per_thread_ops, per_thread_aux, params):
    performed = int(per_thread_ops.sum())
    return {"lost_updates": performed - _observed(state),
            "aux_per_op": float(per_thread_aux.sum() / max(performed, 1))}


EXPERIMENT = Experiment(
    name="counter",
    title="Counting from many threads: lost updates, atomics, CAS, locks and false sharing",
    help="T threads increment a counter as fast as they can. Exact count expected, except for `racy`.",
    params=(
        Param("stride_bytes", int, cache_line_size(), "bytes between per-thread slots in `padded`",
              choices=(8, 16, 32, 64, 128, 256)),
    ),
    variants=(
        Variant("racy", op_racy, "load then store: loses updates (broken on purpose)", broken=True),
        Variant("atomic", op_atomic, "one shared fetch_add"),
        Variant("cas", op_cas, "compare-exchange retry loop; aux counts retries"),
        Variant("spinlock", op_spinlock, "TTAS lock with backoff around a plain increment; aux counts failed attempts"),
        Variant("packed", op_packed, "per-thread slots 8 bytes apart (false sharing)"),
        Variant("padded", op_padded, "per-thread slots stride_bytes apart (default: one cache line)"),
    ),
    setup=setup,
    check=check,
    metrics=metrics,
    aux_name="retries",
    default_variants=("atomic", "cas", "spinlock", "packed", "padded"),
)
