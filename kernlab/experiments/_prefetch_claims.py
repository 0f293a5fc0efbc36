"""The claims judged on `prefetch`: software prefetch over large process maps, and the
L1-versus-DRAM latency principle read off the linked-list staircase. No ``EXPERIMENT``
here (prefetch.py re-exports ``CLAIMS``); nothing here is a measured number."""
from __future__ import annotations

from ..claims import Claim, Verdict
from . import _judging as J

PREFETCH_SAYS = "Prefetching the next entries while iterating a large process map (100+ processes) " \
                "makes the iteration 15-30% faster."
LATENCY_SAYS = "An L1 cache hit costs about 1 ns and a DRAM access about 100 ns: keep hot data in cache."
CLAIM_LOW, CLAIM_HIGH = 1.15, 1.30
PROCESSES = 100


def cache_bytes(table, level: str) -> int | None:
    """A cache size (``L1d``, ``L2``, ``L3``) from the table's provenance, in bytes."""
    for machine in table.provenance:
        text = str((machine.get("caches") or {}).get(level, ""))
        if text:
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
            return int(float(text.rstrip("KMGkmg")) * scale)
    return None


def _size(nbytes) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):g} {unit}"
    return f"{nbytes} B"


def _one_record_per_op(rows):
    """The claims are about ns per record: rows whose op visited one record each."""
    return [r for r in rows if r.get("param_records_per_op", 1) == 1]


def _prefetch_gain(table) -> Verdict:
    says = PREFETCH_SAYS
    rows = _one_record_per_op(J.experiment_rows(table, "prefetch", ("random", "random_prefetch")))
    conditions, rs, threads = J.pick_sweep(
        rows, ["record_bytes", "prefetch_distance"],
        lambda c, g: len(J.ratios_over(g, "random_prefetch", "random", "records")) or None)
    if not rs:
        return Verdict(says, "no sweep of records with both random and random_prefetch", "not measured",
                       "Sweep `records` with the random and random_prefetch variants (notebook 11).")
    gains = J.ratios_over(rs, "random_prefetch", "random", "records")
    record_bytes = conditions["record_bytes"]
    measured = (f"random_prefetch / random at {J.plural(threads)}, {J.conditions_text(conditions)}: "
                + ", ".join(f"{n:,} records ({_size(n * record_bytes)}) {g:.2f}x" for n, g in gains))
    holding = [n for n, g in gains if g >= CLAIM_LOW]
    if not holding:
        return Verdict(says, measured, "does not hold",
                       f"Prefetching never gained {CLAIM_LOW - 1:.0%} at any measured size.")
    # the smallest size from which every larger measured size gains at least CLAIM_LOW
    start = next((n for i, (n, _) in enumerate(gains) if all(g >= CLAIM_LOW for _, g in gains[i:])), None)
    above = f" (beyond the claimed {CLAIM_HIGH - 1:.0%} at the largest size)" if gains[-1][1] > CLAIM_HIGH else ""
    if start is None:
        return Verdict(says, measured, "partly holds",
                       f"It gained {CLAIM_LOW - 1:.0%} or more only at {', '.join(f'{n:,}' for n in holding)} "
                       "records, not at the largest size measured: rerun with more repeats.")
    if all(n < PROCESSES for n, _ in gains if n < start):
        return Verdict(says, measured, "holds",
                       f"Every measured map of {PROCESSES}+ records gained at least {CLAIM_LOW - 1:.0%}{above}.")
    return Verdict(says, measured, "partly holds",
                   f"It holds from {start:,} records ({_size(start * record_bytes)}) on, not from "
                   f"{PROCESSES}: a map of {PROCESSES} records ({_size(PROCESSES * record_bytes)}) sits in "
                   f"L1/L2, where there is no miss to hide{above}.")


def _latency(table) -> Verdict:
    says = LATENCY_SAYS
    rows = _one_record_per_op(J.experiment_rows(table, "prefetch", ("linked_list",)))
    conditions, rs, threads = J.pick_sweep(rows, ["record_bytes"],
                                           lambda c, g: len({r["param_records"] for r in g}) or None)
    if len({r["param_records"] for r in rs}) < 2:
        return Verdict(says, "needs a linked_list sweep over records", "not measured",
                       "Sweep `records` with linked_list from a few KiB past the last-level cache (notebook 11).")
    record_bytes = conditions["record_bytes"]
    sizes = sorted({r["param_records"] for r in rs})
    ns = {n: threads * 1e9 / J.median_of(rs, "linked_list", threads, records=n) for n in sizes}
    small, large = sizes[0], sizes[-1]
    l1, l3 = cache_bytes(table, "L1d"), cache_bytes(table, "L3") or cache_bytes(table, "L2")
    measured = (f"linked list, {J.conditions_text(conditions)}: {ns[small]:.1f} ns per record at "
                f"{_size(small * record_bytes)}, {ns[large]:.1f} ns at {_size(large * record_bytes)} "
                f"({ns[large] / ns[small]:.0f}x); each includes the measuring loop's cost per op")
    if l1 is None or l3 is None:
        return Verdict(says, measured, "not measured", "The table's provenance lacks cache sizes to place the sets.")
    if small * record_bytes > l1:
        return Verdict(says, measured, "not measured", f"The smallest set is larger than L1d ({_size(l1)}).")
    if large * record_bytes < 4 * l3:
        return Verdict(says, measured, "not measured",
                       f"The largest set is under 4x the last-level cache ({_size(l3)}): most of its loads "
                       "still hit the cache. Sweep further to read the DRAM latency.")
    l1_ok, dram_ok = ns[small] <= 2.0, 50.0 <= ns[large] <= 200.0
    if l1_ok and dram_ok:
        return Verdict(says, measured, "holds", "An L1-resident chase costs about a nanosecond per load and a "
                                                "DRAM-sized one about a hundred: two orders of magnitude.")
    if ns[large] / ns[small] >= 10:
        return Verdict(says, measured, "partly holds",
                       "The staircase spans more than an order of magnitude, but the ends are not at 1 and "
                       "100 ns here (a VM's DRAM, huge pages or a large L3 shift them).")
    return Verdict(says, measured, "does not hold", "DRAM-sized sets cost less than 10x an L1-resident one here.")


CLAIMS = (
    Claim("prefetch-process-maps", "Pattern 11: prefetching", PREFETCH_SAYS, "prefetch", _prefetch_gain),
    Claim("memory-hierarchy-latency", "Design principles: memory hierarchy", LATENCY_SAYS, "prefetch", _latency),
)
