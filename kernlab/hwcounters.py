"""Cache misses counted by the CPU around a trial, where the machine lets a process read
its hardware counters (Linux ``perf_event_open``, no perf tool needed).

The runner opens one counter for this process before a trial's worker threads start,
with ``inherit`` so that it counts them too, and reads it after they have been joined
(an inherited counter folds each thread's count into the parent's when the thread
exits). User space only (``exclude_kernel``: allowed at the default
``perf_event_paranoid`` of 2). The count covers the whole trial: the start barrier and
the stop too, a small share next to the ops of a timed run.

Most VMs expose no performance-monitoring unit: the open fails, ``available()`` says
why, trials carry no cache-miss metric and verdicts say "not measurable here". Nothing
is estimated in its place.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import struct

SYSCALL = {"x86_64": 298, "aarch64": 241}.get(platform.machine())   # __NR_perf_event_open
PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES = 0, 3
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK = 1, 1     # CPU time in ns: any Linux counts it (tests use it)
CACHE_MISSES = (PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES)
DISABLED, INHERIT, EXCLUDE_KERNEL, EXCLUDE_HV = 1 << 0, 1 << 1, 1 << 5, 1 << 6
ENABLE, DISABLE, RESET = 0x2400, 0x2401, 0x2403                    # _IO('$', 0), 1, 3
ATTR = struct.Struct("=IIQQQQQIIQ")      # perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes)

_why_not: dict = {}                       # event -> the first failure ("" for none): it will not change


def _open(event) -> int:
    if SYSCALL is None:
        raise OSError(f"perf_event_open: no syscall number known for {platform.machine()}")
    attr = ctypes.create_string_buffer(ATTR.pack(event[0], ATTR.size, event[1], 0, 0, 0,
                                                 DISABLED | INHERIT | EXCLUDE_KERNEL | EXCLUDE_HV, 0, 0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(SYSCALL, attr, 0, -1, -1, 0)       # this process, any CPU, no group, no flags
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"perf_event_open{event} failed: {os.strerror(err)}")
    return fd


def available(event=CACHE_MISSES) -> tuple[bool, str]:
    """Whether ``event`` (type, config) can be counted here, and why not."""
    if event not in _why_not:
        try:
            os.close(_open(event))
            _why_not[event] = ""
        except OSError as e:
            hint = " (no hardware counters exposed: typical of a VM)" if e.errno in (2, 19, 95) else ""
            _why_not[event] = f"{e.strerror or e}{hint}"
    return not _why_not[event], _why_not[event] or "perf_event_open counts it here"


class Counter:
    """``with Counter() as c: ...`` then ``c.count``: the event (default: cache misses)
    in this process and in the threads it starts inside the block (None where it cannot
    be counted)."""

    def __init__(self, event=CACHE_MISSES):
        self.fd = _open(event) if available(event)[0] else None
        self.count: int | None = None

    def __enter__(self):
        if self.fd is not None:
            fcntl.ioctl(self.fd, RESET, 0)
            fcntl.ioctl(self.fd, ENABLE, 0)
        return self

    def read(self) -> None:
        """Stop counting and keep the count (after the counted threads were joined)."""
        if self.fd is not None and self.count is None:
            fcntl.ioctl(self.fd, DISABLE, 0)
            self.count = struct.unpack("=Q", os.read(self.fd, 8))[0]

    def __exit__(self, *exc):
        if self.fd is not None:
            self.read()
            os.close(self.fd)
            self.fd = None
