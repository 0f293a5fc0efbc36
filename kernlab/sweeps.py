"""Sweeps: many measured points (variants x thread counts x values of one parameter),
validated before anything runs, saved after every point, with a progress bar."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .declaration import Experiment, ParamError
from .runner import run
from .tables import ResultTable


@dataclass(frozen=True)
class SweepPoint:
    variant: str
    threads: int
    params: dict


def sweep_points(exp: Experiment, variants, threads_list, params=None, sweep_param=None,
                 sweep_values=None) -> list[SweepPoint]:
    """Variants x thread counts x (optionally) the values of one parameter, validated
    before anything runs."""
    base = exp.resolve_params(params)
    for v in variants:
        exp.variant(v)
    for t in threads_list:
        if not isinstance(t, int) or isinstance(t, bool) or t < 1 or t > 1024:
            raise ParamError(f"threads must be integers in [1, 1024], got {t!r}")
    if sweep_param is None:
        value_sets = [base]
    else:
        p = exp.param(sweep_param)
        values = list(sweep_values) if sweep_values is not None else list(p.choices or ())
        if not values:
            raise ParamError(f"sweep of '{sweep_param}' needs values (it has no fixed choices)")
        value_sets = [{**base, sweep_param: exp.resolve_params({sweep_param: v})[sweep_param]}
                      for v in values]
    # A variant that does not read the swept parameter is measured once (at the first
    # value), not once per value: its rows say so (``ignores``) and figures draw it flat.
    ignoring = set() if sweep_param is None else {v for v in variants if sweep_param in exp.ignored_by(v)}
    return [SweepPoint(v, t, ps) for i, ps in enumerate(value_sets) for v in variants
            if not (i and v in ignoring) for t in threads_list]


def sweep(exp: Experiment, variants, threads_list, params=None, sweep_param=None, sweep_values=None,
          duration: float = 0.5, repeats: int = 3, out: str | None = None, progress: bool = True,
          on_point=None, cancel: threading.Event | None = None, **run_options) -> ResultTable:
    """Run every point; returns the table. With ``out``, the file is rewritten
    atomically after every point (a crash loses at most the point in flight), and an
    existing kernlab results file there is kept: new rows are appended to it."""

    points = sweep_points(exp, variants, threads_list, params, sweep_param, sweep_values)
    table = ResultTable()
    if out and os.path.exists(out):
        table = ResultTable.load(out)  # raises ResultsFileError for a foreign file: nothing overwritten
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(points), desc=f"{exp.name} sweep", unit="point")
    try:
        for i, pt in enumerate(points):
            if bar is not None:
                bar.set_postfix_str(f"{pt.variant} x{pt.threads}" +
                                    (f" {sweep_param}={pt.params[sweep_param]}" if sweep_param else ""))
            result = run(exp, pt.variant, pt.threads, duration=duration, repeats=repeats,
                         params=pt.params, cancel=cancel, **run_options)
            table.add(result)
            if out:
                table.save(out)
            if on_point is not None:
                on_point(i, len(points), result, table)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return table
