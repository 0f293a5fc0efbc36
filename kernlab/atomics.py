"""Atomic operations on numpy array elements, callable from numba nopython code.

This is the only module in kernlab that writes LLVM IR. Every other module reaches
memory ordering through the names defined here, so a checker (or a student) can
swap this module out and every primitive follows.

Naming: the ordering is part of the name, as in C11/C++ and Rust:

    load_relaxed / load_acquire / load_seq_cst               (arr, i) -> value
    store_relaxed / store_release / store_seq_cst            (arr, i, v)
    fetch_add_<ord>, fetch_sub_<ord>, fetch_and_<ord>,
    fetch_or_<ord>, fetch_xor_<ord>, exchange_<ord>          (arr, i, v) -> old value
    compare_exchange_<ord>                                   (arr, i, expected, desired) -> old value
    cas_<ord>                                                (arr, i, expected, desired) -> True on success

with <ord> one of relaxed, acquire, release, acq_rel, seq_cst for read-modify-writes.
``compare_exchange_*`` returns the value found in memory: the exchange happened iff
it equals ``expected`` (the C11 "strong" form; it never fails spuriously). ``cas_*``
returns only the success flag, for loops that do not need the observed value. The
failure ordering of a compare-exchange is the strongest one allowed for a load:
acquire for acq_rel, relaxed for release, the same ordering otherwise.

Supported element types: int64, uint64, int32 (the value argument is converted to
the element type, wrapping like C). The index is an integer for 1-d arrays or a tuple
with one integer per dimension (``fetch_add_relaxed(rows, (tid, 0), 1)``): keeping a
per-thread stride in an array's *shape* lets the compiler hold it in a register.
Indices are bounds-checked when numba's bounds
checking is on (``NUMBA_BOUNDSCHECK=1``), free otherwise.

Also here: ``fence_<ord>``, ``cpu_relax`` (spin-loop hint: x86 ``pause``, aarch64
``yield``, nothing elsewhere; written as LLVM intrinsics because inline assembly
aborts the process under numba's JIT), ``prefetch_read`` / ``prefetch_write``, and
``now_ns``: CLOCK_MONOTONIC in nanoseconds via libc's ``clock_gettime`` (the vDSO on
Linux: no system call), the same clock as Python's ``time.monotonic_ns``.

(This file is longer than 350 lines because it is the one place LLVM IR is written:
atomics, blocking, the C allocator and the vector lanes all live here.)
"""
from __future__ import annotations

import platform
import sys

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

SUPPORTED_DTYPES = (types.int64, types.uint64, types.int32)

LOAD_ORDERINGS = ("relaxed", "acquire", "seq_cst")
STORE_ORDERINGS = ("relaxed", "release", "seq_cst")
RMW_ORDERINGS = ("relaxed", "acquire", "release", "acq_rel", "seq_cst")
RMW_OPS = {"fetch_add": "add", "fetch_sub": "sub", "fetch_and": "and",
           "fetch_or": "or", "fetch_xor": "xor", "exchange": "xchg"}

# C11 ordering names -> LLVM's.
_LLVM_ORDER = {"relaxed": "monotonic", "acquire": "acquire", "release": "release",
               "acq_rel": "acq_rel", "seq_cst": "seq_cst"}
# A failed compare-exchange is only a load, so it cannot carry release semantics.
_CAS_FAILURE_ORDER = {"relaxed": "monotonic", "acquire": "acquire", "release": "monotonic",
                      "acq_rel": "acquire", "seq_cst": "seq_cst"}


def _check_array(arr, index, name):
    if not isinstance(arr, types.Array) or arr.dtype not in SUPPORTED_DTYPES:
        raise TypingError(f"{name}: needs an int64, uint64 or int32 array, got {arr}")
    ndim = len(index) if isinstance(index, types.BaseTuple) else 1
    if ndim != arr.ndim:
        raise TypingError(f"{name}: a {arr.ndim}-d array needs {arr.ndim} indices, got {index}")


def _element_pointer(context, builder, arr_type, arr_value, index_type, index_value):
    """Pointer to ``arr[index]``; ``index`` is an integer, or a tuple of integers with
    one entry per dimension (``load_acquire(rows, (tid, 0))``)."""
    ary = context.make_array(arr_type)(context, builder, arr_value)
    if isinstance(index_type, types.BaseTuple):
        parts = cgutils.unpack_tuple(builder, index_value, len(index_type))
        indices = [context.cast(builder, v, t, types.intp) for v, t in zip(parts, index_type)]
    else:
        indices = [context.cast(builder, index_value, index_type, types.intp)]
    # Check bounds only when numba does (NUMBA_BOUNDSCHECK=1 or boundscheck=True on the
    # kernel): get_item_pointer emits the check whenever it is asked to, and a check on
    # every atomic access cost ~2 ns per lookup on the RCU read path (two compares and
    # branches per index, against the C peer's none).
    return cgutils.get_item_pointer(context, builder, arr_type, ary, indices,
                                    wraparound=False, boundscheck=context.enable_boundscheck)


def _alignment(context, arr_type):
    return context.get_abi_sizeof(context.get_data_type(arr_type.dtype))


def _make_load(order):
    @intrinsic
    def load(typingctx, arr, index):
        _check_array(arr, index, f"load_{order}")
        sig = arr.dtype(arr, index)

        def codegen(context, builder, signature, args):
            ptr = _element_pointer(context, builder, arr, args[0], index, args[1])
            return builder.load_atomic(ptr, _LLVM_ORDER[order], _alignment(context, arr))
        return sig, codegen
    load.__name__ = load.__qualname__ = f"load_{order}"
    return load


def _make_store(order):
    @intrinsic
    def store(typingctx, arr, index, value):
        _check_array(arr, index, f"store_{order}")
        sig = types.void(arr, index, value)

        def codegen(context, builder, signature, args):
            ptr = _element_pointer(context, builder, arr, args[0], index, args[1])
            val = context.cast(builder, args[2], value, arr.dtype)
            builder.store_atomic(val, ptr, _LLVM_ORDER[order], _alignment(context, arr))
            return context.get_dummy_value()
        return sig, codegen
    store.__name__ = store.__qualname__ = f"store_{order}"
    return store


def _make_rmw(op_name, llvm_op, order):
    @intrinsic
    def rmw(typingctx, arr, index, value):
        _check_array(arr, index, f"{op_name}_{order}")
        sig = arr.dtype(arr, index, value)

        def codegen(context, builder, signature, args):
            ptr = _element_pointer(context, builder, arr, args[0], index, args[1])
            val = context.cast(builder, args[2], value, arr.dtype)
            return builder.atomic_rmw(llvm_op, ptr, val, _LLVM_ORDER[order])
        return sig, codegen
    rmw.__name__ = rmw.__qualname__ = f"{op_name}_{order}"
    return rmw


def _make_cmpxchg(order, return_flag):
    name = f"{'cas' if return_flag else 'compare_exchange'}_{order}"

    @intrinsic
    def cmpxchg(typingctx, arr, index, expected, desired):
        _check_array(arr, index, name)
        sig = (types.boolean if return_flag else arr.dtype)(arr, index, expected, desired)

        def codegen(context, builder, signature, args):
            ptr = _element_pointer(context, builder, arr, args[0], index, args[1])
            exp = context.cast(builder, args[2], expected, arr.dtype)
            des = context.cast(builder, args[3], desired, arr.dtype)
            pair = builder.cmpxchg(ptr, exp, des, _LLVM_ORDER[order], _CAS_FAILURE_ORDER[order])
            return builder.extract_value(pair, 1 if return_flag else 0)
        return sig, codegen
    cmpxchg.__name__ = cmpxchg.__qualname__ = name
    return cmpxchg


def _make_fence(order):
    @intrinsic
    def fence(typingctx):
        def codegen(context, builder, signature, args):
            builder.fence(_LLVM_ORDER[order])
            return context.get_dummy_value()
        return types.void(), codegen
    fence.__name__ = fence.__qualname__ = f"fence_{order}"
    return fence


# Build the named operations into this module's namespace.
__all__ = ["cpu_relax", "prefetch_read", "prefetch_write", "now_ns", "compiler_barrier"]


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)


for _o in LOAD_ORDERINGS:
    _export(_make_load(_o))
for _o in STORE_ORDERINGS:
    _export(_make_store(_o))
for _o in RMW_ORDERINGS:
    for _op, _llvm_op in RMW_OPS.items():
        _export(_make_rmw(_op, _llvm_op, _o))
    _export(_make_cmpxchg(_o, return_flag=False))
    _export(_make_cmpxchg(_o, return_flag=True))
for _o in ("acquire", "release", "acq_rel", "seq_cst"):
    _export(_make_fence(_o))


_MACHINE = platform.machine().lower()


@intrinsic
def cpu_relax(typingctx):
    """Spin-wait hint: lets the sibling hyperthread run and ends the spin cheaply."""
    def codegen(context, builder, signature, args):
        module = builder.module
        if _MACHINE in ("x86_64", "amd64", "i686", "x86"):
            fn = cgutils.get_or_insert_function(
                module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(fn, [])
        elif _MACHINE in ("aarch64", "arm64"):
            fn = cgutils.get_or_insert_function(
                module, ir.FunctionType(ir.VoidType(), [ir.IntType(32)]), "llvm.aarch64.hint")
            builder.call(fn, [ir.Constant(ir.IntType(32), 1)])  # hint #1 is YIELD
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def compiler_barrier(typingctx):
    """Stops the compiler from moving memory accesses across this point; emits no
    instruction (a single-thread fence). Used to keep "plain" baselines honest."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst", "singlethread")
        return context.get_dummy_value()
    return types.void(), codegen


def _make_prefetch(rw):
    @intrinsic
    def prefetch(typingctx, arr, index):
        if not isinstance(arr, types.Array):
            raise TypingError("prefetch needs an array")
        sig = types.void(arr, index)

        def codegen(context, builder, signature, args):
            ary = context.make_array(arr)(context, builder, args[0])
            idx = context.cast(builder, args[1], index, types.intp)
            # No bounds check: a prefetch of a bad address is harmless by design.
            ptr = cgutils.get_item_pointer(context, builder, arr, ary, [idx],
                                           wraparound=False, boundscheck=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0")
            # locality 3 = keep in all cache levels; cache type 1 = data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, rw),
                              ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()
        return sig, codegen
    prefetch.__name__ = prefetch.__qualname__ = "prefetch_write" if rw else "prefetch_read"
    return prefetch


prefetch_read = _make_prefetch(0)
prefetch_write = _make_prefetch(1)

_CLOCK_MONOTONIC = 6 if sys.platform == "darwin" else 1  # the value of CLOCK_MONOTONIC in <time.h>


@intrinsic
def now_ns(typingctx):
    """Monotonic clock in nanoseconds (CLOCK_MONOTONIC, as time.monotonic_ns)."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        timespec = ir.LiteralStructType([i64, i64])  # {tv_sec, tv_nsec} on LP64
        slot = cgutils.alloca_once(builder, timespec)
        fn = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.IntType(32), [ir.IntType(32), timespec.as_pointer()]),
            "clock_gettime")
        builder.call(fn, [ir.Constant(ir.IntType(32), _CLOCK_MONOTONIC), slot])
        sec = builder.load(cgutils.gep_inbounds(builder, slot, 0, 0))
        nsec = builder.load(cgutils.gep_inbounds(builder, slot, 0, 1))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)
    return types.int64(), codegen


# ----------------------------------------------------------------------------- blocking
# Linux futex: sleep in the kernel until a word changes (the building block of blocking
# mutexes). Only the low-level calls live here; the lock protocol is in primitives.
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(_MACHINE)
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129   # FUTEX_WAIT/WAKE | FUTEX_PRIVATE_FLAG
HAVE_FUTEX = sys.platform.startswith("linux") and _SYS_FUTEX is not None


def _syscall(builder, args):
    i64 = ir.IntType(64)
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64], var_arg=True), "syscall")
    return builder.call(fn, args)


def _sched_yield(builder):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
    builder.call(fn, [])


@intrinsic
def futex_wait(typingctx, arr, index, expected, timeout_ns):
    """Sleep while ``arr[index] == expected`` (an int32 array), at most ``timeout_ns``,
    or until a ``futex_wake``. Returns at once if the word already differs. Spurious
    wake-ups happen: callers re-check their condition. Without futex (not Linux) this
    yields the CPU instead. Returns the raw syscall result (0, or -1 on EAGAIN/timeout)."""
    if not isinstance(arr, types.Array) or arr.dtype != types.int32:
        raise TypingError("futex_wait needs an int32 array (the kernel's futex word is 32 bits)")
    _check_array(arr, index, "futex_wait")
    sig = types.int64(arr, index, expected, timeout_ns)

    def codegen(context, builder, signature, args):
        i64, i32 = ir.IntType(64), ir.IntType(32)
        if not HAVE_FUTEX:
            _sched_yield(builder)
            return ir.Constant(i64, 0)
        ptr = _element_pointer(context, builder, arr, args[0], index, args[1])
        exp = context.cast(builder, args[2], expected, types.int32)
        t = context.cast(builder, args[3], timeout_ns, types.int64)
        timespec = ir.LiteralStructType([i64, i64])
        slot = cgutils.alloca_once(builder, timespec)
        billion = ir.Constant(i64, 1_000_000_000)
        builder.store(builder.sdiv(t, billion), cgutils.gep_inbounds(builder, slot, 0, 0))
        builder.store(builder.srem(t, billion), cgutils.gep_inbounds(builder, slot, 0, 1))
        null = ir.Constant(ir.IntType(8).as_pointer(), None)
        return _syscall(builder, [ir.Constant(i64, _SYS_FUTEX), ptr, ir.Constant(i32, _FUTEX_WAIT_PRIVATE),
                                  exp, slot, null, ir.Constant(i32, 0)])
    return sig, codegen


@intrinsic
def futex_wake(typingctx, arr, index, count):
    """Wake up to ``count`` threads sleeping in ``futex_wait`` on ``arr[index]``; returns
    how many were woken (0 without futex)."""
    if not isinstance(arr, types.Array) or arr.dtype != types.int32:
        raise TypingError("futex_wake needs an int32 array")
    _check_array(arr, index, "futex_wake")
    sig = types.int64(arr, index, count)

    def codegen(context, builder, signature, args):
        i64, i32 = ir.IntType(64), ir.IntType(32)
        if not HAVE_FUTEX:
            return ir.Constant(i64, 0)
        ptr = _element_pointer(context, builder, arr, args[0], index, args[1])
        n = context.cast(builder, args[2], count, types.int32)
        null = ir.Constant(ir.IntType(8).as_pointer(), None)
        return _syscall(builder, [ir.Constant(i64, _SYS_FUTEX), ptr, ir.Constant(i32, _FUTEX_WAKE_PRIVATE),
                                  n, null, null, ir.Constant(i32, 0)])
    return sig, codegen


@intrinsic
def yield_thread(typingctx):
    """Give the CPU to another runnable thread (sched_yield)."""
    def codegen(context, builder, signature, args):
        _sched_yield(builder)
        return context.get_dummy_value()
    return types.void(), codegen


__all__ += ["futex_wait", "futex_wake", "yield_thread", "HAVE_FUTEX"]


# ----------------------------------------------------------------------------- the C allocator
# ``malloc`` and ``free`` declared by symbol name, like ``syscall`` above: the dynamic
# linker binds them to whichever allocator the process loaded (glibc, or a jemalloc,
# mimalloc or tcmalloc put first by LD_PRELOAD), and numba's disk cache keeps the code
# (a ctypes function pointer would bake one address into it and stop the caching).
# Addresses travel as int64 (``numba.carray`` needs the NRT, which kernels run without);
# the buffers behind them are read and written a word at a time below.

@intrinsic
def c_malloc(typingctx, nbytes):
    """``malloc(nbytes)`` as an int64 address (0 if the allocator failed)."""
    def codegen(context, builder, signature, args):
        i64, i8p = ir.IntType(64), ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i8p, [i64]), "malloc")
        size = context.cast(builder, args[0], nbytes, types.int64)
        return builder.ptrtoint(builder.call(fn, [size]), i64)
    return types.int64(nbytes), codegen


@intrinsic
def c_free(typingctx, address):
    """``free`` of an address that ``c_malloc`` returned."""
    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p]), "free")
        addr = context.cast(builder, args[0], address, types.int64)
        builder.call(fn, [builder.inttoptr(addr, i8p)])
        return context.get_dummy_value()
    return types.void(address), codegen


def _word_pointer(builder, address, index):
    i64 = ir.IntType(64)
    return builder.gep(builder.inttoptr(address, i64.as_pointer()), [index])


@intrinsic
def load_word_relaxed(typingctx, address, index):
    """The int64 word ``index`` words past ``address`` (memory from ``c_malloc`` or a
    numpy buffer's address), as a relaxed atomic load: a plain ``mov`` on x86 and ARM,
    but the compiler may not fold it into an earlier store, so a written-then-verified
    buffer is really read back."""
    def codegen(context, builder, signature, args):
        addr = context.cast(builder, args[0], address, types.int64)
        idx = context.cast(builder, args[1], index, types.int64)
        return builder.load_atomic(_word_pointer(builder, addr, idx), "monotonic", 8)
    return types.int64(address, index), codegen


@intrinsic
def store_word_relaxed(typingctx, address, index, value):
    """Store the int64 ``value`` ``index`` words past ``address`` (relaxed, see above)."""
    def codegen(context, builder, signature, args):
        addr = context.cast(builder, args[0], address, types.int64)
        idx = context.cast(builder, args[1], index, types.int64)
        val = context.cast(builder, args[2], value, types.int64)
        builder.store_atomic(val, _word_pointer(builder, addr, idx), "monotonic", 8)
        return context.get_dummy_value()
    return types.void(address, index, value), codegen


__all__ += ["c_malloc", "c_free", "load_word_relaxed", "store_word_relaxed"]


# ----------------------------------------------------------------------------- vector lanes
# Explicit SIMD for the data-path experiments: LLVM's auto-vectoriser is fragile on numba
# loops with an early exit (DESIGN.md, "SIMD from numba"), so a block of LANES int32 lanes
# is compared in one vector instruction written here. Each returns the block's lane mask
# as an int64 (bit i = lane i matched); callers AND masks together and find the first set
# lane with scalar bit tricks (an `llvm.cttz` declaration crashed numba's compiler).
# LLVM legalises `<16 x i32>` to what the target CPU has: one zmm (AVX-512), two ymm
# (AVX2) or four xmm (SSE4.2), so NUMBA_CPU_NAME/NUMBA_CPU_FEATURES choose the width.
LANES = 16


def _check_lane_array(arr, name):
    if not isinstance(arr, types.Array) or arr.dtype != types.int32 or arr.ndim != 2 or arr.layout != "C":
        raise TypingError(f"{name}: needs a C-contiguous 2-d int32 array (rows x lanes), got {arr}")


def _lane_vector(context, builder, arr_type, ary, row, col):
    """``arr[row, col:col + LANES]`` as one ``<LANES x i32>`` load (unaligned allowed)."""
    intp = context.get_value_type(types.intp)
    if context.enable_boundscheck:      # the last lane too, not only the first
        cgutils.get_item_pointer(context, builder, arr_type, ary,
                                 [row, builder.add(col, ir.Constant(intp, LANES - 1))],
                                 wraparound=False, boundscheck=True)
    ptr = cgutils.get_item_pointer(context, builder, arr_type, ary, [row, col],
                                   wraparound=False, boundscheck=False)
    vec = ir.VectorType(ir.IntType(32), LANES)
    return builder.load(builder.bitcast(ptr, vec.as_pointer()), align=4)


def _splat(builder, value):
    vec = ir.VectorType(ir.IntType(32), LANES)
    one = builder.insert_element(ir.Constant(vec, None), value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(vec, None), ir.Constant(vec, [0] * LANES))


def _lane_args(context, builder, arr_type, args, types_):
    ary = context.make_array(arr_type)(context, builder, args[0])
    row_a, row_b, col = (context.cast(builder, a, t, types.intp) for a, t in zip(args[1:4], types_[1:4]))
    x = context.cast(builder, args[4], types_[4], types.int32)
    return ary, row_a, row_b, col, x


def _mask_bits(builder, lanes_i1):
    return builder.zext(builder.bitcast(lanes_i1, ir.IntType(LANES)), ir.IntType(64))


@intrinsic
def lanes_masked_eq(typingctx, arr, mask_row, value_row, col, x):
    """Lane mask of ``(x & arr[mask_row, col+i]) == arr[value_row, col+i]`` for the LANES
    lanes from ``col``: a field compare where mask 0 / value 0 is a wildcard."""
    _check_lane_array(arr, "lanes_masked_eq")
    sig = types.int64(arr, mask_row, value_row, col, x)

    def codegen(context, builder, signature, args):
        ary, mrow, vrow, c, xv = _lane_args(context, builder, arr, args, signature.args)
        masks = _lane_vector(context, builder, arr, ary, mrow, c)
        values = _lane_vector(context, builder, arr, ary, vrow, c)
        return _mask_bits(builder, builder.icmp_signed("==", builder.and_(_splat(builder, xv), masks), values))
    return sig, codegen


@intrinsic
def lanes_in_range(typingctx, arr, low_row, high_row, col, x):
    """Lane mask of ``arr[low_row, col+i] <= x <= arr[high_row, col+i]`` (signed)."""
    _check_lane_array(arr, "lanes_in_range")
    sig = types.int64(arr, low_row, high_row, col, x)

    def codegen(context, builder, signature, args):
        ary, lrow, hrow, c, xv = _lane_args(context, builder, arr, args, signature.args)
        xs = _splat(builder, xv)
        low = builder.icmp_signed("<=", _lane_vector(context, builder, arr, ary, lrow, c), xs)
        high = builder.icmp_signed("<=", xs, _lane_vector(context, builder, arr, ary, hrow, c))
        return _mask_bits(builder, builder.and_(low, high))
    return sig, codegen


__all__ += ["LANES", "lanes_masked_eq", "lanes_in_range"]
