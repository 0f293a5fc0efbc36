"""The one jit factory: every kernlab kernel is compiled with the same options.

nogil=True        worker threads run kernels in parallel only when the GIL is released;
cache=True        compiled code is kept on disk, so a notebook starts in seconds;
inline="always"   a kernel called from another kernel is inlined in numba's IR. Without
                  it, every call that LLVM declines to inline passes each array of the
                  state tuple by value (about seven words per array) and, with reference
                  counting on, increfs and decrefs them: an atomic add on the array's
                  meminfo, a cache line every thread shares. Measured on the lock zoo's
                  uncontended ops that was 40-90 ns per op against 3-11 ns inlined (see
                  the closing notes of the write-contention issue). Entry points called
                  from Python are unaffected.
boundscheck       left to numba's config, so ``NUMBA_BOUNDSCHECK=1`` checks every index.

The runner compiles the worker that wraps every op without reference counting
(``runner._WORKER_OPTIONS``); since ops are inlined into it, an op that allocates fails
to compile there, which keeps allocation out of measured loops.
"""
from numba import njit


def kernel(fn=None, **overrides):
    """Decorate a kernel: ``@kernel`` or ``@kernel(inline="never")``."""
    options = dict(nogil=True, cache=True, inline="always")
    options.update(overrides)
    if fn is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(fn)


# Kept for modules written against an earlier draft; every kernel is now "hot".
hot_kernel = kernel
