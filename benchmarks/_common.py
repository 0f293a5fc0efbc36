"""What every benchmark script shares: arguments, the median/min/max summary, and the
JSON record (command, time, machine provenance, figures, raw per-round values)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone

import numpy as np

from kernlab.cpeers import MissingPeer, build  # noqa: F401  (MissingPeer: for the scripts)
from kernlab.machine import probe
from kernlab.tables import atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))


def build_c(name: str, libs=(), hint: str = "") -> str:
    """Compile ``kernlab/csrc/<name>.c`` with gcc -O2 into benchmarks/bin/; returns the path."""
    return build(name, libs, hint, into=os.path.join(HERE, "bin"))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians over these)")
    ap.add_argument("--duration", type=float, default=1.0, help="seconds per trial")
    ap.add_argument("--out", default=None, help="JSON file for the figures and raw values (default: print only)")
    return ap.parse_args(argv)


def summary(values) -> dict:
    v = np.asarray(values, float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": len(v)}


def print_figures(figures: dict) -> None:
    width = max(len(name) for name in figures) + 2
    for name, s in figures.items():
        print(f"{name:{width}s} median {s['median']:10.3f}   min {s['min']:10.3f}   max {s['max']:10.3f}")


def save(path: str | None, benchmark: str, args: argparse.Namespace, argv, **payload) -> None:
    """Write the record atomically (nothing when ``path`` is None)."""
    if not path:
        return
    command = " ".join([os.path.basename(sys.argv[0])] + list(argv if argv is not None else sys.argv[1:]))
    atomic_write(path, json.dumps({
        "benchmark": benchmark, "command": command,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": probe(), "rounds": args.rounds, "duration_s": args.duration, **payload,
    }, indent=1))
    print(f"wrote {path}", file=sys.stderr)
