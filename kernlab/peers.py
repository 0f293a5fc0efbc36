"""Independent peers for the claims report: what a Python user would write, and the C
references the benchmarks measured.

``python_peers`` measures, in this process, a counter incremented under
``threading.Lock`` and a dict of records read (and, 1 in 1000, updated) under one lock,
at the thread counts given, and a ``queue.Queue`` between one producer and one consumer
(at 2 threads): kernlab's compiled ``counter``/``atomic``, ``process_table``/``rwlock``
and ``queue``/``spsc_cached`` rows sit beside them in the report, so a reader sees how
far beyond plain Python the compiled patterns are. (The GIL serializes these threads;
that is part of what a Python user gets.) The C peers are measured in the same run by
``kernlab.cpeers``; ``c_peers`` adds the C-reference figures that the benchmarks
recorded in data/ (paired rounds, with their provenance).
"""
from __future__ import annotations

import queue
import threading
import time

import numpy as np


def _timed(threads: int, duration: float, body) -> float:
    """Operations per second of ``threads`` Python threads running ``body(stop, counts, i)``."""
    stop = threading.Event()
    counts = [0] * threads
    pool = [threading.Thread(target=body, args=(stop, counts, i), daemon=True) for i in range(threads)]
    begin = time.perf_counter()
    for t in pool:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - begin)


def python_counter(threads: int, duration: float) -> float:
    lock, box = threading.Lock(), [0]

    def body(stop, counts, i):
        n = 0
        while not stop.is_set():
            with lock:
                box[0] += 1
            n += 1
        counts[i] = n
    rate = _timed(threads, duration, body)
    return rate


def python_table(threads: int, duration: float, size: int = 1024) -> float:
    lock = threading.Lock()
    table = {pid: (pid, 0, pid * 31) for pid in range(size)}

    def body(stop, counts, i):
        rng = np.random.default_rng(i)
        keys = rng.integers(0, size, 4096).tolist()
        n = 0
        while not stop.is_set():
            key = keys[n & 4095]
            with lock:
                if n % 1000 == 999:
                    pid, seq, check = table[key]
                    table[key] = (pid, seq + 1, check)
                else:
                    record = table[key]
                    if record[0] != key:
                        raise AssertionError("a torn record")
            n += 1
        counts[i] = n
    return _timed(threads, duration, body)


def python_queue(threads: int, duration: float, capacity: int = 1024) -> float:
    """A bounded ``queue.Queue`` between thread 0 (producer) and thread 1 (consumer), the
    consumer checking FIFO order: puts + gets per second, as kernlab's ``queue`` counts an
    op per enqueue and per dequeue. ``threads`` must be 2."""
    if threads != 2:
        raise ValueError(f"python_queue runs 1 producer + 1 consumer: threads must be 2, got {threads}")
    q, out_of_order = queue.Queue(maxsize=capacity), [0]

    def body(stop, counts, i):
        n = 0
        while not stop.is_set():
            try:
                if i == 0:
                    q.put(n, timeout=0.01)
                elif q.get(timeout=0.01) != n:
                    out_of_order[0] += 1
            except (queue.Full, queue.Empty):
                continue
            n += 1
        counts[i] = n
    rate = _timed(threads, duration, body)
    if out_of_order[0]:
        raise AssertionError(f"queue.Queue delivered {out_of_order[0]} items out of order")
    return rate


PEERS = (   # name, function, kernlab (experiment, variant) beside it, thread counts it runs at (None: any),
            # kernlab's parameters for the same work
    ("python threading.Lock counter", python_counter, ("counter", "atomic"), None, {}),
    ("python dict under threading.Lock", python_table, ("process_table", "rwlock"), None, {"read_ratio": 0.999}),
    ("python queue.Queue, 1 producer + 1 consumer", python_queue, ("queue", "spsc_cached"), (2,),
     {"capacity": 1024, "batch": 1}),
)


def python_peers(thread_counts, duration: float = 0.5, repeats: int = 3) -> list[dict]:
    """Rows (peer, compares_with, threads, ops_per_sec median, min, max) measured here."""
    out = []
    for name, fn, compares, only, params in PEERS:
        for t in thread_counts if only is None else [t for t in thread_counts if t in only]:
            rates = [fn(t, duration) for _ in range(repeats)]
            out.append({"peer": name, "experiment": compares[0], "variant": compares[1], "threads": t,
                        "params": dict(params), "metric": "ops_per_sec",
                        "ops_per_sec": float(np.median(rates)), "min": min(rates), "max": max(rates)})
    return out


def c_peers() -> list[dict]:
    """The C-reference figures the benchmarks recorded in data/ (with where and when)."""
    from .workspace import reference, reference_files
    out = []
    for name in reference_files("bench-"):
        record = reference(name)
        for figure, value in (record.get("figures") or {}).items():
            if any(word in figure for word in ("liburcu", "over_c", "_c_", "c_qsbr", "c_ring", "vs_c")):
                out.append({"file": name, "figure": figure, "median": value.get("median"),
                            "min": value.get("min"), "max": value.get("max"),
                            "machine": (record.get("machine") or {}).get("cpu_model"),
                            "measured_at": record.get("measured_at")})
    return out
