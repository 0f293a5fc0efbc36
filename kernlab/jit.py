"""The one jit factory: every kernlab kernel is compiled with the same options.

nogil=True    worker threads run kernels in parallel only when the GIL is released;
cache=True    compiled code is kept on disk, so a notebook starts in seconds;
_nrt=False    no reference counting. With it, numba increfs and decrefs arrays around
              calls it cannot see through, and a reference count is an atomic add on the
              array's meminfo: one cache line that every thread shares, a hidden
              contended atomic next to the one being measured (it cost a lock op
              ~100 ns). Kernels never allocate on the measured path; one that must
              allocate (a setup helper) asks for ``kernel(_nrt=True)`` and numba
              refuses to compile an allocation without it, which keeps allocation out
              of hot loops.
boundscheck   left to numba's config, so ``NUMBA_BOUNDSCHECK=1`` checks every index.

Inlining. The runner inlines each op into its worker loop in numba's IR (see
``runner.make_worker``). What the op calls is left to LLVM's inliner, which judges by
size, and every array argument counts as about seven scalars (a numba array is a struct
passed field by field), so a lock's acquire often stays a call: ~20 stack pushes per
call, 15-40 ns per op on the lock zoo. Small helpers on a measured path are therefore
``inline_kernel``: inlined in numba's IR wherever they are called. Slow paths (a
contended spin loop) stay ``kernel``: inlining everything multiplies compile times.
"""
from numba import njit

OPTIONS = dict(nogil=True, cache=True, _nrt=False)


def kernel(fn=None, **overrides):
    """Decorate a kernel: ``@kernel`` or ``@kernel(_nrt=True)``."""
    options = {**OPTIONS, **overrides}
    if fn is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(fn)


def inline_kernel(fn=None, **overrides):
    """A small kernel on a measured path: always inlined into its callers (numba IR)."""
    return kernel(fn, inline="always", **overrides)
