"""Contenders pay the same call costs: the assembly of each worker calls no kernlab
kernel on its fast path.

Every variant's hot path (its lookup or snapshot read, and the uncontended lock, pin or
dereference around it) must be inlined into the measuring loop, or the variant pays an
out-of-line call (15-40 ns, kernlab.jit) that its competitors do not. So the only
kernlab kernels a worker may call are slow paths: contended spin loops, updates and
reclamation, the stalled reader's stall and the garbage sampler's clock read. The
worker is the runner's own (``codeview.listing``): compiled once for this test and the
runs after it, or compiled afresh when it came from the disk cache, which keeps no
assembly.
"""
import re

import numba
import numpy as np
import pytest

from kernlab.codeview import listing
from kernlab.experiments import all_experiments, get
from kernlab.harness import control_block
from kernlab.layout import padded_rows
from kernlab.runner import LATENCY_CAPACITY
from kernlab.worker import make_worker

SLOW_PATHS = {
    # contended spin loops (the uncontended first try is inlined)
    "locks._ttas_acquire_contended", "rwlock._read_lock_contended", "rwlock._write_lock_contended",
    "seqlock._write_begin_contended",
    # updates and reclamation: 1 - read_ratio of the ops
    "process_table._update_in_place", "process_table._rcu_update", "fd_table._locked_toggle",
    "fd_table._epoch_toggle", "rcu.alloc", "rcu.retire", "rcu.reclaim", "rcu._poison_and_free", "rcu.free_at_once",
    "epoch.collect",
    "epoch.retire", "epoch.alloc_record", "epoch.free_unpublished",
    # allocation (alloc): a pool's refill/flush (1 op in thread_cache/2), the outstanding-buffer queue
    # (live > 0 only; malloc and pool pay it alike), and np.empty, which needs numba's runtime (NRT): its
    # call is the numpy variant's allocation, the thing measured
    "pool._refill", "pool._flush", "alloc._settle", "alloc._numpy_result",
    # rare by design: the stalled reader's stall, the sampler's clock read (1 op in 256), the draw of the
    # next rare update (once per update: workload.event_at)
    "_read_mostly._stall", "_read_mostly._record_sample", "workload._event_due",
    # queue: the checker's evidence copy runs only when a node is handed out twice (never, unless broken);
    # ms_queue's node allocation and retirement are epoch.alloc_record / epoch.retire above
    "lockfree_stack.record_evidence",
}
# Composites whose steps are whole ops of other experiments, called on purpose (each step
# is checked here in its own experiment; every variant of the composite pays the same calls).
COMPOSITES = {"syscall_mix"}
# Every variant that is not broken on purpose, of every experiment.
CORRECT = [(name, v.name) for name, exp in sorted(all_experiments().items()) if name not in COMPOSITES
           for v in exp.variants if not v.broken]


def _demangle(symbol: str) -> str:
    """``_ZN7kernlab10primitives6rwlock24read_lock__k...`` -> ``rwlock.read_lock``."""
    parts, i = [], 3
    while i < len(symbol) and symbol[i].isdigit():
        j = i
        while symbol[j].isdigit():
            j += 1
        parts.append(symbol[j:j + int(symbol[i:j])])
        i = j + int(symbol[i:j])
    return ".".join(parts[-2:]).split("__k")[0]


def kernlab_calls(experiment: str, variant: str) -> set:
    """The kernlab kernels that the variant's worker calls out of line."""
    exp = get(experiment)
    state = tuple(exp.setup(2, exp.resolve_params({})))
    sig = (numba.typeof(control_block()), numba.int64, numba.typeof(padded_rows(2, 8)),
           numba.typeof(np.zeros((2, LATENCY_CAPACITY), np.int64)), numba.typeof(state))
    asm = listing(make_worker(exp.variant(variant).op), sig)
    # numba calls other functions through a register: movabsq $symbol, %reg ... callq *%reg
    loaded = re.findall(r"movabsq\s+\$(_ZN7kernlab\w+),\s*%(\w+)(?=(?:.*\n){1,12}?\s*callq\s+\*%\2\b)", asm)
    direct = re.findall(r"callq\s+(_ZN7kernlab\w+)", asm)
    return {_demangle(s) for s, *_ in loaded} | {_demangle(s) for s in direct} - {""}


@pytest.mark.parametrize("experiment, variant", CORRECT, ids=[f"{e}-{v}" for e, v in CORRECT])
def test_the_fast_path_calls_no_kernlab_kernel(experiment, variant):
    calls = {c for c in kernlab_calls(experiment, variant) if not c.split(".")[-1].startswith("worker_")}
    assert calls <= SLOW_PATHS, f"out-of-line calls on the fast path: {sorted(calls - SLOW_PATHS)}"


def test_the_check_sees_an_out_of_line_call():
    """The checker can fail: a kernel that stays a call (the rcu update, too big for
    LLVM to inline) shows up in the worker's calls."""
    assert _demangle("_ZN7kernlab10primitives6rwlock24read_lock__k5ad754a7f651B4v2") == "rwlock.read_lock"
    assert "process_table._rcu_update" in kernlab_calls("process_table", "rcu")
