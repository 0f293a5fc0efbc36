"""C peers, built with gcc and measured on this machine, in the same run as kernlab.

Each peer is a small C program (``kernlab/csrc``) doing what a kernlab variant does, with
the same checks, written the way a C programmer would: a C11 atomic counter, liburcu's
QSBR flavour around the same record table, a C11 single-producer ring. It prints
``<count> <elapsed_ns> [errors]``; a non-zero error count fails the measurement. Builds
are cached (``~/.cache/kernlab/bin``, keyed by the source's hash). A peer this machine
cannot build (no gcc, no liburcu-dev) is reported as missing with the reason, never
replaced by a recorded number.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass, field

import numpy as np

SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")


class MissingPeer(RuntimeError):
    """A C peer cannot be built here (no compiler or library): the message says which."""


def build(name: str, libs=(), hint: str = "", into: str | None = None) -> str:
    """Compile ``csrc/<name>.c`` with gcc -O2 (cached by the source's hash); the path of
    the program. ``into`` puts it in that folder instead of the cache."""
    source = os.path.join(SOURCES, f"{name}.c")
    with open(source, "rb") as f:
        key = hashlib.sha256(f.read() + " ".join(libs).encode()).hexdigest()[:12]
    folder = into or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kernlab",
                                  "bin")
    exe = os.path.join(folder, name if into else f"{name}-{key}")
    if into is None and os.path.exists(exe):
        return exe
    os.makedirs(folder, exist_ok=True)
    try:
        done = subprocess.run(["gcc", "-O2", "-pthread", source, "-o", exe + ".tmp", *libs],
                              capture_output=True, text=True)
    except FileNotFoundError:
        raise MissingPeer("gcc is not installed: the C peer cannot be built") from None
    if done.returncode != 0:
        raise MissingPeer(f"building {name}.c failed{' (' + hint + ')' if hint else ''}: "
                          f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    os.replace(exe + ".tmp", exe)   # a half-written program is never found in the cache
    return exe


def run_rate(exe: str, args) -> float:
    """Run a peer; its count per second (the check's errors must be 0)."""
    out = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=True, timeout=120).stdout
    count, ns, *errors = (int(x) for x in out.split())
    if errors and errors[0]:
        raise AssertionError(f"{os.path.basename(exe)}: its own check failed {errors[0]} times")
    return count / ns * 1e9


@dataclass(frozen=True)
class CPeer:
    peer: str                   # what it is, for the report
    source: str                 # csrc/<source>.c
    compares: tuple             # kernlab (experiment, variant) beside it
    threads: int
    params: dict = field(default_factory=dict)      # kernlab's parameters for the same work
    metric: str = "ops_per_sec"                     # the kernlab column to compare with
    libs: tuple = ()
    hint: str = ""
    argv: tuple = ("{duration}",)                   # its command line, filled from threads, duration, params

    def args(self, duration: float) -> list:
        return [a.format(threads=self.threads, duration=duration, **self.params) for a in self.argv]


C_PEERS = (
    CPeer("C11 atomic counter, gcc -O2", "counter_atomic", ("counter", "atomic"), 1),
    CPeer("liburcu QSBR record table, gcc -O2", "rcu_table_qsbr", ("process_table", "rcu"), 2,
          {"read_ratio": 0.99999, "table_size": 1024, "qs_period": 1024}, libs=("-lurcu-qsbr",),
          hint="is liburcu-dev installed? apt-get install liburcu-dev",
          argv=("{threads}", "{duration}", "{table_size}", "{qs_period}", "rcu")),
    CPeer("C11 SPSC ring, gcc -O2 (items/s)", "spsc_ring", ("queue", "spsc_cached"), 2,
          {"capacity": 1024, "batch": 1}, metric="metric_items_per_sec", argv=("{duration}", "{capacity}")),
)


def measure(duration: float = 0.5, repeats: int = 3) -> tuple[list[dict], dict]:
    """Rows like ``peers.python_peers``' for every C peer this machine can build, and
    {peer: why it is missing} for the others."""
    rows, missing = [], {}
    for p in C_PEERS:
        try:
            exe = build(p.source, p.libs, p.hint)
        except MissingPeer as e:
            missing[p.peer] = str(e)
            continue
        rates = [run_rate(exe, p.args(duration)) for _ in range(repeats)]
        rows.append({"peer": p.peer, "experiment": p.compares[0], "variant": p.compares[1], "threads": p.threads,
                     "params": dict(p.params), "metric": p.metric, "ops_per_sec": float(np.median(rates)),
                     "min": min(rates), "max": max(rates)})
    return rows, missing
