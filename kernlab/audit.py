"""The claims audit: every numeric claim of the catalogue beside this machine's verdict.

``CATALOGUE`` lists what the catalogue claims, in its order: the fourteen patterns, its
success metrics and its design principles, each paraphrased, with the kernlab claims
(``kernlab.claims``) that judge it, or the reason none can. ``REPRODUCE`` says, for every
kernlab claim, which measurements its verdict needs: the same specs run the audit
(``kernlab claims --run``) and print the ``kernlab sweep`` commands that reproduce it by
hand. Nothing here holds a measured number; every verdict is computed from a table.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .claims import Verdict, all_claims
from .experiments import get
from .experiments.syscall_mix import VARIANT_NAMES
from .tables import ResultTable


@dataclass(frozen=True)
class Spec:
    """One sweep a claim needs. Thread counts may name ``"cores"`` / ``"2cores"`` (this
    machine's usable cores, or twice that: oversubscribed)."""
    experiment: str
    variants: tuple
    threads: tuple = (1, 2)
    params: dict = field(default_factory=dict)
    sweep_param: str | None = None
    values: tuple | None = None
    quick_values: tuple | None = None   # a shorter sweep for --quick
    quick_skip: bool = False            # left out of --quick (e.g. many variants, each a long compile)
    # a kernlab command that measures instead of a sweep (``kernlab <function> --out F``),
    # e.g. the cost ladder's pinned rungs; FUNCTIONS names the Python function behind it
    function: str | None = None

    def thread_counts(self, cores: int) -> list[int]:
        counts = {"cores": cores, "2cores": 2 * cores}
        return sorted({counts.get(t, t) for t in self.threads})

    def command(self, cores: int, quick: bool = False) -> str:
        if self.function:
            return f"kernlab {self.function} --out claims.csv"
        parts = [f"kernlab sweep {self.experiment} --variants {','.join(self.variants)}",
                 f"--threads {','.join(str(t) for t in self.thread_counts(cores))}"]
        parts += [f"--param {k}={v}" for k, v in self.params.items()]
        if self.sweep_param:
            values = self.quick_values if quick and self.quick_values else self.values
            parts.append(f"--sweep-param {self.sweep_param}" + (f" --values {','.join(map(str, values))}"
                                                                 if values else ""))
        return " ".join(parts) + " --out claims.csv"


@dataclass(frozen=True)
class CatalogueClaim:
    where: str             # the catalogue's section
    says: str              # paraphrase
    claims: tuple = ()     # kernlab claim ids that judge it
    unmeasurable: str = "" # why no measurement here can judge it (when ``claims`` is empty)


CATALOGUE = (
    CatalogueClaim("1. RCU", "Reads 10-50x faster than a sharded concurrent map.", ("rcu-vs-dashmap-reads",)),
    CatalogueClaim("1. RCU (when to use)", "Worth it above 100 reads per write.", ("rcu-read-write-threshold",)),
    CatalogueClaim("2. Flat combining", "A hot counter goes from ~150M to ~1.2B ops/s; 10-100x fewer line transfers.",
                   ("flat-combining-8x",)),
    CatalogueClaim("3. Seqlock", "Reads cost nothing beyond a sequence check.", ("seqlock-zero-overhead-reads",)),
    CatalogueClaim("4. Cache-line alignment", "Aligning per-core data to cache lines prevents false sharing.",
                   ("cache-line-alignment",)),
    CatalogueClaim("5. Sharded slots", "Power-of-two shard counts (a mask) and 4x/2x/1x-cores shard profiles.",
                   ("shard-mask-vs-modulo", "shard-profile-high")),
    CatalogueClaim("6. Epoch reclamation", "FD lookups 30-50% faster than a sharded map; linear to 64+ cores.",
                   ("epoch-fd-lookups",)),
    CatalogueClaim("7. Adaptive lock", "The atomic path is 10x faster than a mutex.", ("adaptive-lock-10x",)),
    CatalogueClaim("8. Buffer pools", "50-80% less allocation pressure, 5-15% lower latency.",
                   ("pool-allocation-pressure",)),
    CatalogueClaim("9. Inline strings", "~70% of error messages fit inline; 8 ns vs 23 ns.",
                   ("inline-string-share", "inline-string-speed")),
    CatalogueClaim("10. SIMD permission checks", "4-8x throughput for 16+ rules.", ("simd-permission-checks",)),
    CatalogueClaim("11. Prefetching", "15-30% faster iteration of large process maps (100+).",
                   ("prefetch-process-maps",)),
    CatalogueClaim("12. Allocator swap", "10-20% faster allocations with jemalloc.", ("jemalloc-faster",)),
    CatalogueClaim("13. Request arenas", "Faster than malloc for request-scoped objects.", ("arena-faster",)),
    CatalogueClaim("14. Lock striping", "Per-process locks reduce contention.", ("lock-striping",)),
    CatalogueClaim("Success metric", "Syscall throughput +30%.", ("syscall-throughput-30",)),
    CatalogueClaim("Success metric", "P99 latency -20%.", ("syscall-p99-20",)),
    CatalogueClaim("Success metric", "Memory allocations -50%.",
                   ("syscall-allocations-50", "pool-allocation-pressure")),
    CatalogueClaim("Success metric", "Cache misses -25%.", ("syscall-cache-misses-25",)),
    CatalogueClaim("Guideline", "Only optimisations that gain more than 10% justify their complexity.",
                   unmeasurable="a rule for deciding, not a property of a machine"),
    CatalogueClaim("Principle: read-heavy reality", "About 90% of kernel operations are reads.",
                   unmeasurable="a property of a workload, not of a machine; the read-mostly experiments "
                                "take the read share as a parameter"),
    CatalogueClaim("Principle: cache efficiency", "An L1 hit costs 1 ns and a DRAM access 100 ns.",
                   ("l1-hit-1ns", "memory-hierarchy-latency")),
    CatalogueClaim("Principle: contention", "A simple algorithm without contention beats a clever one with it.",
                   ("contention-beats-algorithm", "zero-contention-ladder", "lock-contention-scaling")),
)

FUNCTIONS = {"ladder": "measure_ladder"}   # a Spec.function's command -> kernlab's function

# records of 64 bytes, up to 1 GiB: the DRAM end must be well past the last-level cache
_RECORDS = (1 << 8, 1 << 12, 1 << 16, 1 << 20, 1 << 24)
# The success metrics under several conditions (the verdicts name each): read shares at
# 1 and 2 threads, a skewed key stream; and every switch's share (the report's waterfall).
_MIX = (Spec("syscall_mix", ("baseline", "optimized"), sweep_param="read_share", values=(0.5, 0.9, 0.99),
             quick_values=(0.9,)),
        Spec("syscall_mix", ("baseline", "optimized"), (2,), params={"key_skew": 0.99}, quick_skip=True))
_WATERFALL = Spec("syscall_mix", VARIANT_NAMES, (2,), quick_skip=True)
_LADDER = Spec("cost_ladder", (), function="ladder")
REPRODUCE: dict[str, tuple[Spec, ...]] = {
    "rcu-vs-dashmap-reads": (Spec("process_table", ("rcu", "sharded")),),
    "rcu-read-write-threshold": (Spec("process_table", ("rcu", "rwlock"), (2,), sweep_param="read_ratio",
                                      values=(0.5, 0.9, 0.99, 0.999)),),
    "shard-mask-vs-modulo": (Spec("process_table", ("sharded",), (2,), sweep_param="shard_index"),),
    "shard-profile-high": (Spec("process_table", ("sharded",), (2,), sweep_param="shards",
                                values=(1, 2, 4, 8, 16, 32, 64, 128, 256), quick_values=(2, 8, 32)),),
    "seqlock-zero-overhead-reads": (Spec("stats_snapshot", ("seqlock", "unsync", "locked"),
                                         params={"read_only": True}),),
    "cache-line-alignment": (Spec("counter", ("padded",), (2,), sweep_param="stride_bytes"),),
    "flat-combining-8x": (Spec("combining_counter", ("atomic", "flat_combining"), (2,)),),
    "contention-beats-algorithm": (Spec("combining_counter", ("sharded", "flat_combining"), (2,)),),
    "adaptive-lock-10x": (Spec("adaptive_cell", ("adaptive", "mutex"), params={"value_bytes": 8}),),
    "epoch-fd-lookups": (Spec("fd_table", ("epoch", "sharded"), params={"key_skew": 0.99}),),
    "lock-contention-scaling": (Spec("lock", ("ttas", "ticket", "mcs", "mutex"), ("cores", "2cores")),),
    "lock-striping": (Spec("fd_striping", ("global", "per_process", "striped"), (2,)),),
    "simd-permission-checks": (Spec("permission_check", ("scalar", "simd"), (1,), params={"match_at": "none"},
                                    sweep_param="rules", values=(16, 64, 256, 1024), quick_values=(16, 64)),),
    "prefetch-process-maps": (Spec("prefetch", ("random", "random_prefetch"), (1,), sweep_param="records",
                                   values=_RECORDS, quick_values=_RECORDS[:4]),),
    "memory-hierarchy-latency": (Spec("prefetch", ("linked_list",), (1,), sweep_param="records",
                                      values=_RECORDS, quick_values=_RECORDS[:4]),),
    "pool-allocation-pressure": (Spec("alloc", ("pool", "malloc"), (1,)),),
    "arena-faster": (Spec("alloc", ("arena", "malloc"), (1,)),),
    "jemalloc-faster": (Spec("alloc", ("malloc",), (1,), sweep_param="allocator", values=("system", "jemalloc")),),
    "inline-string-share": (Spec("small_string", ("inline",), (1,)),),
    "inline-string-speed": (Spec("small_string", ("inline", "heap"), (1,)),),
    "syscall-throughput-30": (*_MIX, _WATERFALL),
    "syscall-p99-20": (*_MIX, _WATERFALL),
    "syscall-allocations-50": _MIX,
    "syscall-cache-misses-25": _MIX,
    "l1-hit-1ns": (_LADDER,),
    "zero-contention-ladder": (_LADDER,),
}


@dataclass
class AuditRow:
    where: str
    says: str
    claim_id: str | None
    experiment: str
    verdict: Verdict | None
    reproduce: list[str]
    unmeasurable: str = ""

    @property
    def verdict_text(self) -> str:
        if self.verdict is None:
            return "not measurable here"
        return self.verdict.verdict


def specs_for(claim_ids=None) -> list[Spec]:
    """The measurements that judge ``claim_ids`` (default: every claim), each once."""
    wanted = claim_ids or list(all_claims())
    seen, out = set(), []
    for cid in wanted:
        for spec in REPRODUCE.get(cid, ()):
            if repr(spec) not in seen:
                seen.add(repr(spec))
                out.append(spec)
    return out


def audit(table: ResultTable, cores: int) -> list[AuditRow]:
    """One row per (catalogue claim, kernlab claim judging it); catalogue claims that no
    measurement can judge get one row saying why."""
    claims = all_claims()
    rows = []
    for entry in CATALOGUE:
        if not entry.claims:
            rows.append(AuditRow(entry.where, entry.says, None, "", None, [], entry.unmeasurable))
            continue
        for cid in entry.claims:
            claim = claims.get(cid)
            if claim is None:
                rows.append(AuditRow(entry.where, entry.says, cid, "", None, [],
                                     f"the claim '{cid}' is not registered in this kernlab"))
                continue
            rows.append(AuditRow(entry.where, entry.says, cid, claim.experiment, claim.judge(table),
                                 [s.command(cores) for s in REPRODUCE.get(cid, ())]))
    return rows


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_report(rows: list[AuditRow], machine: dict) -> str:
    """The audit as a markdown table, one row per claim, with the machine it was judged on."""
    head = (f"# kernlab claims audit\n\nMachine: {machine.get('cpu_model', '?')}, {machine.get('usable_cores', '?')} "
            f"usable cores, {machine.get('os', '?')}; kernlab {machine.get('kernlab', '?')}, "
            f"numba {machine.get('numba', '?')}.\n\n"
            "| where | the catalogue says | kernlab claim | experiment | measured here | verdict | why | reproduce |\n"
            "|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        v = r.verdict
        lines.append("| " + " | ".join(_cell(x) for x in (
            r.where, r.says, r.claim_id or "-", r.experiment or "-", v.measured if v else "-", r.verdict_text,
            v.why if v else r.unmeasurable, "<br>".join(f"`{c}`" for c in r.reproduce) or "-")) + " |")
    return head + "\n".join(lines) + "\n"


def html_report(rows: list[AuditRow], machine: dict, table: ResultTable, peers: str = "") -> str:
    """A self-contained page: the claims table, one throughput figure per experiment
    measured and the switches' waterfall when measured (plotly embedded once), the
    machine facts and the provenance."""
    from .plots import throughput_figure
    colour = {"holds": "#2ca02c", "partly holds": "#ff7f0e", "does not hold": "#d62728"}
    body = []
    for r in rows:
        v = r.verdict
        cells = (r.where, r.says, r.claim_id or "-", r.experiment or "-", v.measured if v else "-")
        verdict = f"<b style='color:{colour.get(r.verdict_text, '#555')}'>{html.escape(r.verdict_text)}</b>"
        why = html.escape(v.why if v else r.unmeasurable)
        reproduce = "<br>".join(f"<code>{html.escape(c)}</code>" for c in r.reproduce)
        body.append("<tr class='claim'>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + f"<td>{verdict}</td><td>{why}</td><td>{reproduce}</td></tr>")
    figures = [throughput_figure(table.where(experiment=e)) for e in dict.fromkeys(table.column("experiment"))]
    mix = table.where(experiment="syscall_mix")
    if any(v.startswith("without_") for v in mix.column("variant")):   # the waterfall of the switches
        from .plots import contributions_figure
        defaults = {f"param_{k}": v for k, v in get("syscall_mix").resolve_params().items()}
        at = ResultTable([r for r in mix.rows if r["threads"] == 2 and all(r.get(k) == v for k, v in defaults.items())],
                         list(mix.provenance))
        figures += [contributions_figure(at), contributions_figure(
            at, "lat_p99_ns", scale=1.0, unit="ns (p99)", title="each switch's share of the p99 latency")]
    figures = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures)]
    facts = "".join(f"<tr><td><b>{html.escape(str(k))}</b></td><td>{html.escape(str(v))}</td></tr>"
                    for k, v in machine.items())
    provenance = html.escape(str(table.provenance))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>kernlab claims audit</title>"
            "<style>td{vertical-align:top;border-bottom:1px solid #ddd;padding:4px;font-size:13px}</style>"
            "</head><body><h1>kernlab claims audit</h1><table><tr><th>where</th><th>the catalogue says</th>"
            "<th>kernlab claim</th><th>experiment</th><th>measured here</th><th>verdict</th><th>why</th>"
            f"<th>reproduce</th></tr>{''.join(body)}</table><h2>Peers</h2><pre>{html.escape(peers)}</pre>"
            f"<h2>Figures</h2>{''.join(figures)}"
            f"<h2>Machine</h2><table>{facts}</table><h2>Provenance</h2><pre>{provenance}</pre></body></html>")


def measure(specs: list[Spec], quick: bool = False, progress: bool = True, cores: int | None = None):
    """Run ``specs`` (quick: short trials, shorter sweeps) into one table. A spec this
    machine cannot run (an allocator not installed, a family missing) is skipped and
    said so: returns (table, {command: reason})."""
    from .declaration import ParamError
    from .machine import usable_cores
    from .sweeps import sweep
    cores = cores or usable_cores()
    duration, repeats = (0.2, 2) if quick else (1.0, 3)
    table, skipped = ResultTable(), {}
    for spec in specs:
        values = spec.quick_values if quick and spec.quick_values else spec.values
        if quick and spec.quick_skip:
            skipped[spec.command(cores, quick)] = "left out of --quick (run without --quick to measure it)"
            continue
        try:
            if spec.function:
                import kernlab
                table.extend(getattr(kernlab, FUNCTIONS[spec.function])(duration=duration, repeats=repeats))
                continue
            table.extend(sweep(get(spec.experiment), list(spec.variants), spec.thread_counts(cores),
                               params=dict(spec.params), sweep_param=spec.sweep_param, sweep_values=values,
                               duration=duration, repeats=repeats, progress=progress))
        except ParamError as e:
            skipped[spec.command(cores, quick)] = str(e)
    return table, skipped


def _peer_specs() -> tuple:
    """kernlab's side of every peer comparison (kernlab.peers, kernlab.cpeers): the same
    experiment, variant, threads and parameters, measured with --run beside them."""
    from .cpeers import C_PEERS
    from .peers import PEERS
    specs = [Spec(exp, (variant,), only or (1, 2), params) for _, _, (exp, variant), only, params in PEERS]
    for p in C_PEERS:   # each point once: a C peer often sits beside a point a Python peer needs too
        if not any((s.experiment, s.variants, s.params) == (p.compares[0], (p.compares[1],), p.params)
                   and p.threads in s.threads for s in specs):
            specs.append(Spec(p.compares[0], (p.compares[1],), (p.threads,), p.params))
    return tuple(specs)


PEER_SPECS = _peer_specs()


def peer_rows(table: ResultTable, peers: list[dict]) -> list[dict]:
    """Each peer beside kernlab's median for the same experiment, variant, threads and
    parameters, in the peer's metric (ops/s, or items/s for a ring)."""
    out = []
    for p in peers:
        mine = [r.get(p["metric"]) for r in table.where(experiment=p["experiment"], variant=p["variant"],
                                                         threads=p["threads"]).rows
                if all(r.get(f"param_{k}") == v for k, v in p["params"].items()) and r.get(p["metric"]) is not None]
        ours = float(np.median(mine)) if mine else None
        out.append({**p, "kernlab_ops_per_sec": ours, "ratio": ours / p["ops_per_sec"] if ours else None})
    return out


def peers_markdown(rows: list[dict], c_rows: list[dict], missing: dict | None = None) -> str:
    lines = ["", "## Peers, measured in this run", "",
             "| peer | threads | peer per s (median) | kernlab | kernlab per s | kernlab / peer |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ours = f"{r['kernlab_ops_per_sec']:,.0f}" if r["kernlab_ops_per_sec"] else "not measured"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        setting = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        lines.append(f"| {r['peer']} | {r['threads']} | {r['ops_per_sec']:,.0f} | {r['experiment']}/{r['variant']}"
                     f"{' (' + setting + ')' if setting else ''} | {ours} | {ratio} |")
    lines += [f"| {peer} | - | missing here: {why} | - | - | - |" for peer, why in (missing or {}).items()]
    if c_rows:
        lines += ["", "C references recorded by the benchmarks (paired rounds; data/):", "",
                  "| record | figure | median | min..max | machine | measured |", "|---|---|---|---|---|---|"]
        lines += [f"| {c['file']} | {c['figure']} | {c['median']:.3g} | {c['min']:.3g}..{c['max']:.3g} | "
                  f"{c['machine']} | {c['measured_at']} |" for c in c_rows]
    return "\n".join(lines) + "\n"
