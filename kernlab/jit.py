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

The disk cache and edits elsewhere. numba invalidates a cached function only when its
*own* file changes, but callees from other files (atomics intrinsics, inlined
primitives, layout constants) are compiled into it: after an edit to ``atomics.py`` the
old machine code would still be loaded. So every kernel's cache entry is keyed on
``SOURCE_DIGEST``, a hash of every kernlab source file that compiled code can reach
(all of them except the pure-Python presentation layer below): an edit anywhere there
recompiles every kernel on next use.

Inlining. The runner inlines each op into its worker loop in numba's IR (see
``kernlab.worker``). What the op calls is left to LLVM's inliner, which judges by
size, and every array argument counts as about seven scalars (a numba array is a struct
passed field by field), so a lock's acquire often stays a call: ~20 stack pushes per
call, 15-40 ns per op on the lock zoo. Small helpers on a measured path are therefore
``inline_kernel``: inlined in numba's IR wherever they are called. Slow paths (a
contended spin loop) stay ``kernel``: inlining everything multiplies compile times.
"""
import hashlib
from pathlib import Path

from numba import njit

OPTIONS = dict(nogil=True, cache=True, _nrt=False)

# Modules and folders no kernel is compiled from (they only drive and show runs).
_NOT_COMPILED = {"__init__.py", "cli.py", "ui.py", "controls.py", "results.py", "tables.py", "sweeps.py",
                 "claims.py", "audit.py", "peers.py", "workspace.py", "codeview.py", "plots", "experiments/_judging.py",
                 # claims and tables of the experiments: plain Python
                 "experiments/_alloc_claims.py", "experiments/_prefetch_claims.py", "experiments/_syscall_claims.py",
                 "experiments/_messages.py"}


def _source_digest() -> str:
    root = Path(__file__).parent
    h = hashlib.sha1(repr(sorted(OPTIONS.items())).encode())
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in _NOT_COMPILED or rel.as_posix() in _NOT_COMPILED:
            continue
        h.update(str(rel).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


SOURCE_DIGEST = _source_digest()


def keyed(fn, name: str | None = None):
    """Give ``fn`` a qualified name carrying SOURCE_DIGEST: numba names its cache files
    after it, so code compiled from older sources is never loaded."""
    fn.__qualname__ = f"{name or fn.__qualname__}__k{SOURCE_DIGEST}"
    return fn


def kernel(fn=None, **overrides):
    """Decorate a kernel: ``@kernel`` or ``@kernel(_nrt=True)``."""
    options = {**OPTIONS, **overrides}
    if fn is None:
        return lambda f: njit(**options)(keyed(f))
    return njit(**options)(keyed(fn))


def inline_kernel(fn=None, **overrides):
    """A small kernel on a measured path: always inlined into its callers (numba IR)."""
    return kernel(fn, inline="always", **overrides)
