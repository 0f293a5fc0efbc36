"""The same experiments, headless: ``kernlab list | probe | run | sweep | ladder | compare | claims | asm |
notebooks | lab``.

Bad input ends with one line on stderr naming what is wrong and what is allowed, and
exit status 2; no traceback. Ctrl-C stops every worker and exits with status 130.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .arguments import duration_value, int_list, parse_kv, pin_value, repeats_value, results_file
from .declaration import ParamError
from .tables import ResultsFileError, ResultTable


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise ParamError(message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kernlab", description="Concurrency patterns measured on your own cores.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="experiments, variants and parameters")
    sub.add_parser("probe", help="machine facts as JSON")

    def common(sp):
        sp.add_argument("experiment")
        sp.add_argument("--duration", type=str, default="1.0", help="seconds per trial (0, 60]")
        sp.add_argument("--repeats", type=str, default="3", help="counted trials per point")
        sp.add_argument("--param", action="append", metavar="NAME=VALUE", help="experiment parameter")
        sp.add_argument("--pin", nargs="?", const="compact", default="none", metavar="POLICY",
                        help="pin worker threads: none, compact (the default of a bare --pin), scattered, "
                             "or CPU ids 0,3 (thread i on the i-th, wrapping)")

    r = sub.add_parser("run", help="run one variant at one thread count")
    common(r)
    r.add_argument("--variant", help="required unless the experiment has one default variant (c2c: cas)")
    r.add_argument("--threads", type=str, default="1")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--out", help="also append the trials to this results file (.csv or .json)")

    s = sub.add_parser("sweep", help="variants x thread counts (x one parameter) into a results file")
    common(s)
    s.add_argument("--variants", help="comma-separated (default: the experiment's default set)")
    s.add_argument("--threads", type=str, default="1,2")
    s.add_argument("--sweep-param", help="also sweep this parameter")
    s.add_argument("--values", help="comma-separated values for --sweep-param (default: its choices)")
    s.add_argument("--out", required=True, help="results file (.csv or .json); appended to if it exists")
    s.add_argument("--no-progress", action="store_true")

    ld = sub.add_parser("ladder", help="the cost ladder (an empty op, a clock read, a load, an atomic alone and "
                        "contended, pinned) into a results file")
    ld.add_argument("--duration", type=str, default="0.2", help="seconds per trial (0, 60]")
    ld.add_argument("--repeats", type=str, default="5", help="counted trials per rung")
    ld.add_argument("--out", required=True, help="results file (.csv or .json); appended to if it exists")

    c = sub.add_parser("compare", help="overlay results files (e.g. from several machines) as separate series")
    c.add_argument("files", nargs="+", help="results files (.csv or .json)")
    c.add_argument("--out", required=True, help="figure file: .html (always works), .png or .svg")
    c.add_argument("--x", default="threads", help="x axis: threads or a parameter name")
    c.add_argument("--experiment", help="which experiment, when the files hold several")

    cl = sub.add_parser("claims", help="every claim of the catalogue with this machine's verdict and how to "
                        "reproduce it")
    cl.add_argument("--run", action="store_true", help="measure what the claims need (minutes; see --quick)")
    cl.add_argument("--quick", action="store_true", help="with --run: short trials and sweeps")
    cl.add_argument("--from", dest="sources", nargs="+", metavar="FILE", help="judge results files instead")
    cl.add_argument("--only", help="comma-separated claim ids (default: all)")
    cl.add_argument("--out", help="write the report: .md (a table) or .html (table, figures, machine)")
    cl.add_argument("--save", help="with --run: also save the measured rows (.csv or .json)")

    a = sub.add_parser("asm", help="a variant's compiled op: assembly (or LLVM IR) with vector and ordering "
                       "instructions marked, and a summary line")
    a.add_argument("experiment")
    a.add_argument("--variant", required=True)
    a.add_argument("--param", action="append", metavar="NAME=VALUE", help="experiment parameter")
    a.add_argument("--llvm", action="store_true", help="LLVM IR instead of assembly")

    nb = sub.add_parser("notebooks", help="copy the notebooks into a folder to work in (your edits are kept)")
    nb.add_argument("dir")
    nb.add_argument("--update", action="store_true", help="refresh the notebooks you have not changed")

    lab = sub.add_parser("lab", help="open the notebooks in JupyterLab (127.0.0.1, token auth)")
    lab.add_argument("--dir", help="a workspace folder (created with the notebooks on first use); default: "
                     "the repository's notebooks in a checkout, else ~/kernlab-notebooks")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--no-browser", action="store_true")
    return p


def _cmd_list(args) -> int:
    from .experiments import all_experiments
    for exp in all_experiments().values():
        print(f"{exp.name}: {exp.title}")
        print("  variants:")
        for v in exp.variants:
            print(f"    {v.name:<12} {v.help}{'  [BROKEN on purpose]' if v.broken else ''}")
        if exp.switches:
            print(f"    and any other mix: with_<switch>+<switch>... (switches: {', '.join(exp.switches)})")
        print("  parameters:")
        for prm in exp.params:
            print(f"    {prm.name:<12} {prm.help}; {prm.allowed()}; default {prm.default}")
    return 0


def _cmd_probe(args) -> int:
    from .machine import probe
    print(json.dumps(probe(), indent=2))
    return 0


def _cmd_run(args) -> int:
    from .experiments import get
    from .runner import run
    exp = get(args.experiment)
    threads = int_list(args.threads, "--threads")
    if len(threads) != 1:
        raise ParamError(f"--threads for run takes one integer, got {args.threads!r} (use sweep for several)")
    variant = args.variant or (exp.default_variants[0] if len(exp.default_variants) == 1 else None)
    if variant is None:
        raise ParamError(f"--variant is required for {exp.name}; one of {', '.join(exp.variant_names())}")
    exp.variant(variant)
    params = exp.resolve_params(parse_kv(args.param))
    result = run(exp, variant, threads[0], duration=duration_value(args.duration),
                 repeats=repeats_value(args.repeats), params=params, pin=pin_value(args.pin))
    if args.out:
        _append(args.out, result)
    if args.json:
        print(json.dumps(result.to_json(), default=str))
    else:
        print(result.summary())
    return 0 if result.check.passed or result.broken else 1


def _append(path, measured) -> ResultTable:
    """Add a run's (or a table's) rows to the results file at ``path``, creating it."""
    table = ResultTable.load(path) if os.path.exists(path) else ResultTable()
    table.extend(measured) if isinstance(measured, ResultTable) else table.add(measured)
    table.save(path)
    return table


def _cmd_sweep(args) -> int:
    from .experiments import get
    from .sweeps import sweep
    exp = get(args.experiment)
    variants = [v.strip() for v in args.variants.split(",")] if args.variants else \
        list(exp.default_variants or exp.variant_names())
    values = [v.strip() for v in args.values.split(",")] if args.values else None
    if values is not None and not args.sweep_param:
        raise ParamError("--values needs --sweep-param NAME")
    table = sweep(exp, variants, int_list(args.threads, "--threads"), params=parse_kv(args.param),
                  sweep_param=args.sweep_param, sweep_values=values, duration=duration_value(args.duration),
                  repeats=repeats_value(args.repeats), out=results_file(args.out), progress=not args.no_progress,
                  pin=pin_value(args.pin))
    print(f"wrote {len(table)} rows to {args.out}")
    return 0


def _cmd_ladder(args) -> int:
    from .experiments.cost_ladder import measure_ladder
    path = results_file(args.out)
    table = _append(path, measure_ladder(duration=duration_value(args.duration), repeats=repeats_value(args.repeats)))
    print(f"wrote {len(table)} rows to {path}")
    return 0


def _cmd_compare(args) -> int:
    from .plots import export_figure, throughput_figure
    from .tables import combine
    if not args.out.endswith((".html", ".png", ".svg")):
        raise ParamError(f"--out must end in .html, .png or .svg, got {args.out!r}")
    table = combine({path: ResultTable.load(path) for path in args.files})
    experiments = sorted(set(table.column("experiment")))
    if args.experiment:
        table = table.where(experiment=args.experiment)
    elif len(experiments) > 1:
        raise ParamError(f"the files hold several experiments ({', '.join(experiments)}); choose one with --experiment")
    if not table.rows:
        raise ParamError(f"no rows for experiment {args.experiment!r}; the files hold {', '.join(experiments)}")
    machines = sorted(set(table.column("machine")))
    export_figure(throughput_figure(table, args.x), args.out)
    print(f"wrote {args.out}: {len(table)} rows from {len(machines)} machine(s): {'; '.join(machines)}")
    return 0


def _cmd_claims(args) -> int:
    from . import audit
    from .claims import all_claims
    from .machine import probe, usable_cores
    from .tables import atomic_write
    known = all_claims()
    only = [c.strip() for c in args.only.split(",")] if args.only else None
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise ParamError(f"--only: unknown claim(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if args.out and not args.out.endswith((".md", ".html")):
        raise ParamError(f"--out must end in .md or .html, got {args.out!r}")
    if args.quick and not args.run:
        raise ParamError("--quick goes with --run")
    table = ResultTable()
    for path in args.sources or ():
        table.extend(ResultTable.load(path))
    peer_rows, missing = [], {}
    if args.run:
        specs = audit.specs_for(only) + ([] if only else list(audit.PEER_SPECS))
        measured, skipped = audit.measure(specs, quick=args.quick)
        table.extend(measured)
        if not only:
            from . import cpeers
            from .peers import python_peers
            timing = (0.2, 1) if args.quick else (0.5, 3)
            c_rows, missing = cpeers.measure(*timing)
            peer_rows = python_peers([1, 2], *timing) + c_rows
        for command, reason in skipped.items():
            print(f"kernlab: skipped `{command}`: {reason}", file=sys.stderr)
        if args.save:
            measured.save(args.save)
    rows = [r for r in audit.audit(table, usable_cores()) if not only or r.claim_id in only]
    machine = table.provenance[0] if table.provenance and not args.run else probe()
    from .peers import c_peers
    peers = audit.peers_markdown(audit.peer_rows(table, peer_rows), c_peers(), missing) if not only else ""
    if args.out:
        text = audit.html_report(rows, machine, table, peers) if args.out.endswith(".html") else \
            audit.markdown_report(rows, machine) + peers
        atomic_write(args.out, text)
        print(f"wrote {args.out}: {len(rows)} claims")
    else:
        for r in rows:
            measured_text = r.verdict.measured if r.verdict else r.unmeasurable
            print(f"[{r.verdict_text}] {r.where}: {r.says}\n    {measured_text}")
            for command in r.reproduce:
                print(f"    reproduce: {command}")
    return 0


def _cmd_asm(args) -> int:
    from . import codeview
    from .experiments import get
    exp = get(args.experiment)
    exp.variant(args.variant)
    params = exp.resolve_params(parse_kv(args.param))
    listing = codeview.op_function(codeview.op_code(exp.name, args.variant, "llvm" if args.llvm else "asm", params))
    print(codeview.marked(listing))
    if not args.llvm:
        print(f"# {codeview.summary_line(codeview.vector_summary(listing))}")
    print(f"# memory-ordering lines: {len(codeview.ordering_lines(listing))}")
    return 0


def _cmd_notebooks(args) -> int:
    from .workspace import copy_notebooks
    try:
        report = copy_notebooks(args.dir, update=args.update)
    except OSError as e:
        raise ParamError(f"cannot use '{args.dir}' as a workspace: {e}") from None
    print(f"{args.dir}: {report.summary()}")
    return 0


def _cmd_lab(args) -> int:
    from .workspace import lab_folder
    try:
        folder = lab_folder(args.dir)
    except OSError as e:
        raise ParamError(f"cannot use '{args.dir}' as a workspace: {e}") from None
    print(f"kernlab: opening {folder}", file=sys.stderr)
    # -m jupyterlab, not `jupyter lab`: no need for the scripts folder to be on PATH.
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={args.port}"]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    # Token authentication is JupyterLab's default; the URL with the token is printed.
    os.execv(sys.executable, cmd)
    return 0


def main(argv=None) -> int:
    try:
        args = _build_parser().parse_args(argv)
        return {"list": _cmd_list, "probe": _cmd_probe, "run": _cmd_run, "sweep": _cmd_sweep, "ladder": _cmd_ladder,
                "compare": _cmd_compare, "claims": _cmd_claims, "asm": _cmd_asm, "notebooks": _cmd_notebooks,
                "lab": _cmd_lab}[args.command](args)
    except (ParamError, ResultsFileError) as e:
        print(f"kernlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kernlab: interrupted; all workers stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error worth a traceback
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
