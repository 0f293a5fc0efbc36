"""The one jit factory: every kernlab kernel is compiled with the same options.

nogil=True   worker threads run kernels in parallel only when the GIL is released;
cache=True   compiled code is kept on disk, so a notebook starts in seconds, not minutes;
boundscheck  left to numba's config, so ``NUMBA_BOUNDSCHECK=1`` checks every index.
"""
from numba import njit


def kernel(fn=None, **overrides):
    """Decorate a kernel: ``@kernel`` or ``@kernel(inline="always")``."""
    options = dict(nogil=True, cache=True)
    options.update(overrides)
    if fn is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(fn)
