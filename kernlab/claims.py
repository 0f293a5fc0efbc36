"""The catalogue's claims, each next to what this machine measures and a verdict.

A claim is paraphrased (the catalogue is a source to test, not to quote) together with
the experiment that measures it and a function that turns a results table into a
measured value and a verdict. Claims are declared next to their experiment, in the
experiment module's ``CLAIMS`` tuple. Nothing here contains a measured number: every figure
comes from the table passed in, and a verdict says "not measured" when the table lacks
the rows it needs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .tables import ResultTable


@dataclass(frozen=True)
class Verdict:
    claim: str
    measured: str
    verdict: str          # "holds", "partly holds", "does not hold", "not measured" or "not measurable here"
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


def all_claims() -> dict[str, Claim]:
    """Every claim, collected from the experiment modules' ``CLAIMS`` tuples."""
    from .experiments import all_claims as collected
    return collected()


def judge(claim_id: str, table: ResultTable) -> Verdict:
    claims = all_claims()
    if claim_id not in claims:
        raise KeyError(f"unknown claim '{claim_id}'; known: {', '.join(sorted(claims))}")
    return claims[claim_id].judge(table)
