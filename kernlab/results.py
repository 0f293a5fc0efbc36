"""What a run produced: trials, their aggregation (median and spread, fairness,
latency percentiles) and its formatting (summary text, JSON, tidy rows)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .declaration import Check
from .tables import median_trial

RAW_SAMPLES_PER_THREAD = 512      # raw latency samples a results row keeps per thread
TRACE_COLUMNS = ("trace_thread", "trace_kind", "trace_begin_ns", "trace_end_ns")


def machine_label(facts: dict) -> str:
    """A short name for the machine that measured a result (figures split series by it):
    the CPU model without marketing noise, the cores this process could use, the host."""
    model = re.sub(r"\((R|TM)\)|\bCPU\b|\bProcessor\b|@.*$|\d+-Core", "", facts.get("cpu_model") or "?")
    return f"{' '.join(model.split())} x{facts.get('usable_cores', '?')} @{facts.get('host', '?')}"


def spread_samples(per_thread: list, limit: int = RAW_SAMPLES_PER_THREAD) -> tuple[list, list]:
    """At most ``limit`` samples of each thread, evenly spaced over what it recorded:
    (latencies, thread ids), bounded so that results files stay small."""
    values, tids = [], []
    for tid, samples in enumerate(per_thread):
        if len(samples) > limit:
            samples = samples[np.linspace(0, len(samples) - 1, limit).astype(np.int64)]
        values.extend(int(v) for v in samples)
        tids.extend([tid] * len(samples))
    return values, tids


@dataclass
class Trial:
    per_thread_ops: np.ndarray
    per_thread_aux: np.ndarray
    elapsed_s: float
    latencies_ns: np.ndarray
    sample_every: int
    sampling_overhead: float          # estimated fraction of thread time spent sampling
    check: Check
    metrics: dict = field(default_factory=dict)
    latency_threads: np.ndarray | None = None   # thread id of each latency sample
    trace: np.ndarray | None = None             # trace mode: rows (thread, kind, begin_ns, end_ns)
    trace_capacity: int = 0                     # events each thread could keep

    @property
    def ops(self) -> int:
        return int(self.per_thread_ops.sum())

    @property
    def ops_per_sec(self) -> float:
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def fairness(self) -> dict:
        ops = self.per_thread_ops.astype(float)
        mean = ops.mean()
        return {"min": int(ops.min()), "max": int(ops.max()),
                "cv": float(ops.std() / mean) if mean > 0 else 0.0}

    @property
    def latency(self) -> dict:
        return latency_percentiles(self.latencies_ns)

    def per_thread_latencies(self) -> list:
        """The latency samples split by the thread that took them."""
        if self.latency_threads is None:
            return [self.latencies_ns]
        return [self.latencies_ns[self.latency_threads == tid] for tid in range(len(self.per_thread_ops))]


def latency_percentiles(samples: np.ndarray) -> dict:
    if len(samples) == 0:
        return {"p50": None, "p99": None, "p999": None, "samples": 0}
    p50, p99, p999 = np.percentile(samples, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p999": float(p999), "samples": int(len(samples))}


@dataclass
class RunResult:
    experiment: str
    variant: str
    broken: bool
    threads: int
    params: dict
    duration_s: float
    trials: list
    oversubscribed: bool
    pinned: bool
    aux_name: str
    machine: dict
    pin: str = "none"                 # pinning policy: none, compact, scattered or cpus (an explicit list)
    cpus: list = field(default_factory=list)   # the CPU of each thread when pinned
    ignores: tuple = ()               # the parameters this variant does not read

    @property
    def ops_per_sec_trials(self) -> list:
        return [t.ops_per_sec for t in self.trials]

    @property
    def ops_per_sec(self) -> float:
        return float(np.median(self.ops_per_sec_trials))

    @property
    def median_trial(self) -> Trial:
        return median_trial(self.trials, key=lambda t: t.ops_per_sec)

    @property
    def latency(self) -> dict:
        return latency_percentiles(np.concatenate([t.latencies_ns for t in self.trials]))

    @property
    def check(self) -> Check:
        failed = [t.check for t in self.trials if not t.check.passed]
        if failed:
            return Check(False, f"{len(failed)} of {len(self.trials)} trials failed; first: {failed[0].detail}")
        return Check(True, self.trials[-1].check.detail)

    def to_json(self) -> dict:
        """The CLI's ``run --json`` object."""
        trial = self.median_trial
        lat = self.latency
        rates = self.ops_per_sec_trials
        return {
            "experiment": self.experiment, "variant": self.variant, "broken": self.broken,
            "threads": self.threads, "params": self.params, "duration_s": self.duration_s,
            "ops_per_sec": self.ops_per_sec, "ops_per_sec_trials": rates,
            "ops_per_sec_min": min(rates), "ops_per_sec_max": max(rates),
            "per_thread_ops": trial.per_thread_ops.tolist(), "fairness": trial.fairness,
            "latency_ns": {k: lat[k] for k in ("p50", "p99", "p999")},
            "latency_samples": lat["samples"], "sample_every": trial.sample_every,
            "sampling_overhead": max(t.sampling_overhead for t in self.trials),
            self.aux_name: int(sum(t.per_thread_aux.sum() for t in self.trials)),
            "metrics": trial.metrics,
            "check": {"passed": self.check.passed, "detail": self.check.detail},
            "oversubscribed": self.oversubscribed, "pinned": self.pinned,
            "pin": self.pin, "cpus": self.cpus,
            "machine": self.machine,
        }

    def summary(self) -> str:
        """A few human lines: throughput, fairness, latency, check."""
        j = self.to_json()
        lat, f = j["latency_ns"], j["fairness"]
        fmt = lambda x: "n/a" if x is None else f"{x:,.0f}"
        return "\n".join([
            f"{self.experiment}/{self.variant} x{self.threads} threads"
            + ("  (OVERSUBSCRIBED: more threads than cores)" if self.oversubscribed else ""),
            f"  throughput  {j['ops_per_sec'] / 1e6:,.2f} Mops/s median of {len(self.trials)} "
            f"(min {j['ops_per_sec_min'] / 1e6:,.2f}, max {j['ops_per_sec_max'] / 1e6:,.2f})",
            f"  per thread  {j['per_thread_ops']}  (min/max {f['min'] / max(f['max'], 1):.2f}, cv {f['cv']:.3f})",
            f"  latency ns  p50 {fmt(lat['p50'])}  p99 {fmt(lat['p99'])}  p99.9 {fmt(lat['p999'])}  "
            f"(1 in {j['sample_every']} ops timed, ~{j['sampling_overhead']:.1%} overhead, "
            f"each sample includes ~{self.machine.get('timer_overhead_ns', 0):.0f} ns of clock read)",
            f"  check       {'PASS' if self.check.passed else 'FAIL'}: {self.check.detail}"
            + ("  (this variant is broken on purpose)" if self.broken else ""),
        ])

    def rows(self) -> list[dict]:
        """Tidy rows, one per trial (see kernlab.results)."""
        out = []
        for i, t in enumerate(self.trials):
            lat, fair = t.latency, t.fairness
            row = {
                "experiment": self.experiment, "variant": self.variant, "broken": self.broken,
                "threads": self.threads, "trial": i, "duration_s": round(t.elapsed_s, 6),
                "ops": t.ops, "ops_per_sec": t.ops_per_sec,
                "per_thread_ops": t.per_thread_ops.tolist(),
                "fairness_min": fair["min"], "fairness_max": fair["max"], "fairness_cv": fair["cv"],
                "lat_p50_ns": lat["p50"], "lat_p99_ns": lat["p99"], "lat_p999_ns": lat["p999"],
                "lat_samples": lat["samples"], "sample_every": t.sample_every,
                "sampling_overhead": t.sampling_overhead,
                "aux_name": self.aux_name, "aux": int(t.per_thread_aux.sum()),
                "check_passed": t.check.passed, "check_detail": t.check.detail,
                "oversubscribed": self.oversubscribed, "pinned": self.pinned,
                "pin": self.pin,
                "cpu_model": self.machine.get("cpu_model"), "usable_cores": self.machine.get("usable_cores"),
                "machine": machine_label(self.machine),
            }
            raw, tids = spread_samples(t.per_thread_latencies())
            if raw:
                row["lat_raw_ns"], row["lat_raw_thread"] = raw, tids
            if t.trace is not None:
                row["trace_capacity"] = t.trace_capacity
                for i, name in enumerate(TRACE_COLUMNS):
                    row[name] = t.trace[:, i].tolist()
            if self.cpus:   # only when pinned: an empty list would not survive a CSV round trip
                row["pin_cpus"] = list(self.cpus)
            if self.ignores:   # only when some: an empty string would not survive a CSV round trip
                row["ignores"] = ",".join(self.ignores)
            row.update({f"param_{k}": v for k, v in self.params.items()})
            row.update({f"metric_{k}": v for k, v in t.metrics.items()})
            out.append(row)
        return out
