"""Memory orderings, checked on the LLVM IR of each primitive's read and write paths.

x86 forgives a missing acquire (every load is an acquire there, every store a release),
so a stress test cannot catch an ordering regression on this machine: turning the
seqlock reader's acquire into relaxed and deleting its fence (Boehm's bug) passes every
run. The IR says what the compiler was told and what an ARM or POWER build would keep,
so these tests fail on any machine when an ordering the proof needs is weakened.
Each expectation names the ordering the module docstring's proof relies on.
"""
import re
from collections import Counter

import numba
import pytest
from numba import types as T

from kernlab.jit import OPTIONS
from kernlab.primitives import adaptive, epoch, lockfree_stack, locks, msqueue, rcu, rings, rwlock, seqlock

I64 = T.int64
A1 = T.int64[::1]          # a 1-D int64 array (control blocks, lock words, meta)
A2 = T.int64[:, ::1]       # per-thread padded slots / rows
W32 = T.int32[::1]         # futex words

_ATOMIC = re.compile(
    r"\b(?:load atomic [^,]+, ptr [^ ]+ (?P<load>\w+)"
    r"|store atomic [^,]+, ptr [^ ]+ (?P<store>\w+)"
    r"|fence (?P<fence>\w+)"
    r"|cmpxchg (?:weak )?ptr [^,]+, [^,]+, \S+ \S+ (?P<cas>\w+) \w+"
    r"|atomicrmw (?:volatile )?(?P<rmwop>\w+) ptr [^,]+, [^ ]+ [^ ]+ (?P<rmw>\w+))")


def orderings(kernel, *argtypes) -> Counter:
    """(operation, ordering) pairs in the optimized IR of ``kernel`` compiled afresh
    (not from the disk cache, whose entries carry no IR)."""
    fresh = numba.njit(**{**OPTIONS, "cache": False})(kernel.py_func)
    fresh.compile(argtypes)
    ir = fresh.inspect_llvm(argtypes)
    found = Counter()
    for m in _ATOMIC.finditer(ir):
        if m["load"]:
            found["load", m["load"]] += 1
        elif m["store"]:
            found["store", m["store"]] += 1
        elif m["fence"]:
            found["fence", m["fence"]] += 1
        elif m["cas"]:
            found["cmpxchg", m["cas"]] += 1
        else:
            found[m["rmwop"], m["rmw"]] += 1
    return found


CASES = [
    # seqlock (Boehm 2012): acquire on the first read, fence before the re-check;
    # the writer's fence_release after making seq odd, release on the closing store.
    ("seqlock.read_begin", seqlock.read_begin, (A1, I64), [("load", "acquire")]),
    ("seqlock.read_retry", seqlock.read_retry, (A1, I64, I64), [("fence", "acquire")]),
    ("seqlock.read", seqlock.read, (A1, I64, A1, I64, A1, A1), [("load", "acquire"), ("fence", "acquire")]),
    ("seqlock.write_begin", seqlock.write_begin, (A1, I64, A1), [("cmpxchg", "acquire"), ("fence", "release")]),
    ("seqlock.write_end", seqlock.write_end, (A1, I64), [("store", "release")]),
    # RCU: dereference acquires the publication; quiescent acquires GP_CTR and releases its slot.
    ("rcu.dereference", rcu.dereference, (A1,), [("load", "acquire")]),
    ("rcu.quiescent", rcu.quiescent, (A1, A2, I64), [("load", "acquire"), ("store", "release")]),
    ("rcu.publish", rcu.publish, (A1, I64, I64), [("cmpxchg", "acq_rel")]),
    ("rcu.start_grace_period", rcu.start_grace_period, (A1,), [("add", "acq_rel")]),
    ("rcu.grace_period_elapsed", rcu.grace_period_elapsed, (A2, I64, I64), [("load", "acquire")]),
    # EBR: the pin's store-load ordering needs a full fence; unpin releases; the advancer
    # fences its scan, releases the new epoch and frees only on an acquired epoch.
    ("epoch.pin", epoch.pin, (A1, A2, I64), [("fence", "seq_cst")]),
    ("epoch.unpin", epoch.unpin, (A2, I64), [("store", "release")]),
    ("epoch.try_advance", epoch.try_advance, (A1, A2, I64, A1, I64),
     [("fence", "seq_cst"), ("fence", "acquire"), ("cmpxchg", "release"), ("load", "acquire")]),
    # locks: every acquire is an acquire, every release a release.
    ("locks.ttas_acquire", locks.ttas_acquire, (A1, I64, A1), [("cmpxchg", "acquire")]),
    ("locks.ttas_release", locks.ttas_release, (A1, I64), [("store", "release")]),
    ("locks.tas_acquire", locks.tas_acquire, (A1, I64, A1), [("xchg", "acquire")]),
    ("locks.ticket_acquire", locks.ticket_acquire, (A1, A1), [("load", "acquire")]),
    ("locks.ticket_release", locks.ticket_release, (A1,), [("store", "release")]),
    ("locks.mcs_acquire", locks.mcs_acquire, (A1, A2, I64, A1),
     [("xchg", "acq_rel"), ("store", "release"), ("load", "acquire")]),
    ("locks.mcs_release", locks.mcs_release, (A1, A2, I64, A1),
     [("load", "acquire"), ("cmpxchg", "release"), ("store", "release")]),
    ("locks.mutex_acquire", locks.mutex_acquire, (W32, I64, A1), [("cmpxchg", "acquire"), ("xchg", "acquire")]),
    ("locks.mutex_release", locks.mutex_release, (W32, I64), [("xchg", "release")]),
    # reader-writer lock
    ("rwlock.read_lock", rwlock.read_lock, (A1, I64, A1), [("add", "acquire")]),
    ("rwlock.read_unlock", rwlock.read_unlock, (A1, I64), [("sub", "release")]),
    ("rwlock.write_lock", rwlock.write_lock, (A1, I64, A1), [("cmpxchg", "acquire")]),
    ("rwlock.write_unlock", rwlock.write_unlock, (A1, I64), [("and", "release")]),
    # the adaptive cell's one-word path
    ("adaptive.atomic_read", adaptive.atomic_read, (A1,), [("load", "acquire")]),
    ("adaptive.atomic_write", adaptive.atomic_write, (A1, I64), [("store", "release")]),
    # SPSC ring: publish releases TAIL after the slot writes, the consumer acquires it before
    # reading; consume releases HEAD after the reads, the producer acquires it before overwriting.
    ("rings.spsc_publish", rings.spsc_publish, (A1, I64), [("store", "release")]),
    ("rings.spsc_available", rings.spsc_available, (A1, A1), [("load", "acquire")]),
    ("rings.spsc_consume", rings.spsc_consume, (A1, I64), [("store", "release")]),
    ("rings.spsc_reserve", rings.spsc_reserve, (A1, I64, A1), [("load", "acquire")]),
    ("rings.spsc_cached_reserve", rings.spsc_cached_reserve, (A1, I64, A1), [("load", "acquire")]),
    ("rings.spsc_cached_available", rings.spsc_cached_available, (A1, A1), [("load", "acquire")]),
    # Vyukov: SEQ is acquired before a slot is used and released after.
    ("rings.mpmc_claim_push", rings.mpmc_claim_push, (A1, A2, I64, A1), [("load", "acquire")]),
    ("rings.mpmc_release_push", rings.mpmc_release_push, (A2, I64, I64), [("store", "release")]),
    ("rings.mpmc_claim_pop", rings.mpmc_claim_pop, (A1, A2, I64, A1), [("load", "acquire")]),
    ("rings.mpmc_release_pop", rings.mpmc_release_pop, (A2, I64, I64), [("store", "release")]),
    # Treiber: push publishes the node with a release CAS; pop acquires the head.
    ("lockfree_stack.push", lockfree_stack.push, (A1, I64, A2, I64, T.boolean), [("cmpxchg", "release")]),
    ("lockfree_stack.pop", lockfree_stack.pop, (A1, I64, A2, T.boolean, I64, A1),
     [("load", "acquire"), ("cmpxchg", "acquire")]),
    # Michael-Scott: the link CAS releases the node; NEXT and the ends are read with acquire.
    ("msqueue.link", msqueue.link, (A1, A2, I64), [("cmpxchg", "release"), ("load", "acquire")]),
    ("msqueue.unlink", msqueue.unlink, (A1, A2), [("cmpxchg", "release"), ("load", "acquire")]),
]


@pytest.mark.parametrize("name,kernel,argtypes,needed", CASES, ids=[c[0] for c in CASES])
def test_orderings_the_proof_needs_are_in_the_ir(name, kernel, argtypes, needed):
    found = orderings(kernel, *argtypes)
    missing = [op for op in needed if found[op] == 0]
    assert not missing, f"{name}: IR lacks {missing}; it has {dict(found)}"


def test_the_checker_sees_a_weakened_ordering():
    """The checker itself can fail: Boehm's bug (relaxed first load, no fence) is caught."""
    from kernlab import atomics as A
    from kernlab.jit import inline_kernel

    @inline_kernel
    def weakened_read_begin(seq, i):
        return A.load_relaxed(seq, i)

    found = orderings(weakened_read_begin, A1, I64)
    assert found["load", "acquire"] == 0 and found["load", "monotonic"] == 1


def test_the_start_barrier_orders_the_worker():
    """READY is a release (pairs with the runner's acquire), START an acquire."""
    from kernlab.experiments import get
    from kernlab.worker import make_worker
    exp = get("counter")
    state = tuple(exp.setup(1, exp.resolve_params({})))
    worker = make_worker(exp.variant("atomic").op)
    found = orderings(worker, A1, I64, A2, A2, numba.typeof(state))
    assert found["add", "release"] >= 1 and found["load", "acquire"] >= 1, dict(found)
