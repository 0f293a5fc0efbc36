"""The catalogue's claims, each next to what this machine measures and a verdict.

A claim is paraphrased (the catalogue is a source to test, not to quote) together with
the experiment that measures it and a function that turns a results table into a
measured value and a verdict. Nothing here contains a measured number: every figure
comes from the table passed in, and a verdict says "not measured" when the table lacks
the rows it needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .results import ResultTable


@dataclass(frozen=True)
class Verdict:
    claim: str
    measured: str
    verdict: str          # "holds", "partly holds", "does not hold" or "not measured"
    why: str

    def _repr_markdown_(self):
        return (f"**Claim:** {self.claim}\n\n**Measured here:** {self.measured}\n\n"
                f"**Verdict: {self.verdict}.** {self.why}")

    def __str__(self):
        return f"claim: {self.claim}\nmeasured: {self.measured}\nverdict: {self.verdict}. {self.why}"


@dataclass(frozen=True)
class Claim:
    id: str
    section: str          # where in the catalogue
    says: str             # paraphrase
    experiment: str
    judge: Callable[[ResultTable], Verdict]


def median_rate(table: ResultTable, **equal) -> float | None:
    rates = [r["ops_per_sec"] for r in table.where(**equal).rows]
    return float(np.median(rates)) if rates else None


def _cache_line_alignment(table: ResultTable) -> Verdict:
    says = CLAIMS["cache-line-alignment"].says
    rows = [r for r in table.rows if r["experiment"] == "counter" and r["variant"] == "padded"
            and not r["oversubscribed"]]
    if not rows:
        return Verdict(says, "no padded-counter rows in the table", "not measured",
                       "Run the stride sweep above first.")
    threads = max(r["threads"] for r in rows)
    at = lambda stride: median_rate(table, experiment="counter", variant="padded", threads=threads,
                                    param_stride_bytes=stride)
    shared, line, pair = at(8), at(64), at(128)
    if shared is None or line is None:
        return Verdict(says, "the sweep needs strides 8 and 64", "not measured", "Sweep stride_bytes.")
    gain = line / shared
    measured = f"{threads} threads: 64-byte stride {gain:.2f}x the 8-byte (false-sharing) stride"
    if pair is not None:
        measured += f"; 128-byte stride {pair / line:.2f}x the 64-byte one"
    if threads < 2:
        return Verdict(says, measured, "not measured", "False sharing needs two threads on two cores.")
    if gain < 1.2:
        return Verdict(says, measured, "does not hold",
                       "Separating the counters by a cache line did not speed them up here.")
    if pair is not None and pair / line > 1.2:
        return Verdict(says, measured, "partly holds",
                       "64 bytes removes most of the false sharing, but neighbouring lines still "
                       "interfere (adjacent-line prefetch): 128 bytes is the safer padding here.")
    return Verdict(says, measured, "holds",
                   "Giving each thread's hot word its own 64-byte line removes the false sharing; "
                   "padding further gains nothing measurable here.")


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("cache-line-alignment", "Tier 1, item 4",
          "Aligning contended per-core data to 64-byte cache lines prevents false sharing.",
          "counter", _cache_line_alignment),
)}


def judge(claim_id: str, table: ResultTable) -> Verdict:
    return CLAIMS[claim_id].judge(table)
