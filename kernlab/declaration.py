"""How an experiment is declared: parameters, variants, setup and check.

One declaration feeds everything: the runner runs it, the CLI lists and validates it,
the widget panel builds its controls from the parameters, sweeps and tests iterate its
variants. Adding a pattern = one primitive module + one declaration in
``kernlab/experiments/``.

A variant is an *op*: a kernel ``op(ctl, state, tid, n) -> int64`` that performs one
operation of the pattern on the shared ``state`` (a tuple of numpy arrays built by
``setup``) as thread ``tid`` doing its ``n``-th operation. It returns a non-negative
"aux" count that the runner sums (CAS retries, lock spins ...), or ``-1`` when it gave
up because the run is stopping (see ``harness.stopping``). The runner wraps every op in
the same harness (start barrier, stop flag, deadline, op counting, latency sampling).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ParamError(ValueError):
    """A bad parameter value; the message is one line naming the parameter and what is allowed."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: type                      # int, float, str or bool
    default: Any
    help: str
    low: float | None = None        # inclusive bounds for int/float
    high: float | None = None
    choices: tuple | None = None    # allowed values (any kind)
    power_of_two: bool = False
    log_scale: bool = False         # widgets use a logarithmic slider
    # The variants that read this parameter (None: all). A sweep of it runs the others
    # once, and figures draw them as a flat reference line, not a curve against it.
    used_by: tuple[str, ...] | None = None

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "text"}[self.kind]
        text = f"{kind} in [{_fmt(self.low)}, {_fmt(self.high)}]" if self.low is not None else kind
        return text + (", a power of two" if self.power_of_two else "")

    def parse(self, text: str):
        """Convert a command-line string, then validate."""
        try:
            if self.kind is bool:
                lowered = str(text).strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                value = lowered in ("1", "true", "yes", "on")
            elif self.kind is int:
                try:
                    value = int(text)
                except ValueError:  # "1e6" is a fine way to write a million
                    as_float = float(text)
                    if not as_float.is_integer():
                        raise
                    value = int(as_float)
            elif self.kind is float:
                value = float(text)
            else:
                value = str(text)
        except (TypeError, ValueError):
            raise ParamError(f"parameter '{self.name}' must be {self.allowed()}, got {text!r}") from None
        return self.validate(value)

    def validate(self, value):
        bad = ParamError(f"parameter '{self.name}' must be {self.allowed()}, got {value!r}")
        if self.kind is int:
            if isinstance(value, bool) or not float(value).is_integer():
                raise bad
            value = int(value)
        elif self.kind is float:
            if isinstance(value, bool):
                raise bad
            value = float(value)
            if not math.isfinite(value):
                raise bad
        elif self.kind is bool:
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise bad
            value = bool(value)
        if self.choices is not None and value not in self.choices:
            raise bad
        if self.low is not None and value < self.low:
            raise bad
        if self.high is not None and value > self.high:
            raise bad
        if self.power_of_two and (value < 1 or int(value) & (int(value) - 1)):
            raise bad
        return value


def _fmt(x):
    if x is None:
        return "?"
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


@dataclass(frozen=True)
class Variant:
    name: str
    op: Callable                    # the op kernel, see module docstring
    help: str
    broken: bool = False            # a teaching variant: its check is expected to fail


@dataclass(frozen=True)
class Check:
    passed: bool
    detail: str


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    help: str
    params: tuple[Param, ...]
    variants: tuple[Variant, ...]
    # setup(threads, params) -> tuple of numpy arrays: the shared state of one trial
    setup: Callable[[int, dict], tuple]
    # check(state, per_thread_ops, params) -> Check, run after all workers joined
    check: Callable[[tuple, Any, dict], Check]
    # metrics(state, per_thread_ops, per_thread_aux, params) -> {name: number}, optional
    metrics: Callable[..., dict] | None = None
    aux_name: str = "aux"           # what the ops' aux counts mean (e.g. "cas_retries")
    # child_env(params) -> {name: value} or None: when it returns an environment, the
    # trials run in a child process with it (an LD_PRELOADed allocator, another
    # NUMBA_CPU_NAME) and the results come back like any other run's.
    child_env: Callable[[dict], dict | None] | None = None
    # validate(variant, threads, params) raises ParamError for a combination no single
    # parameter can refuse (an SPSC ring at 3 threads); called before each trial's setup.
    validate: Callable[[str, int, dict], None] | None = None
    default_variants: tuple[str, ...] = field(default=())
    # An experiment built from independent switches (syscall_mix) names them here; the
    # panel shows a checkbox each. Its listed variants are the usual combinations; any
    # other is made on demand by combination(switches that are on) -> a variant name,
    # which ``variant`` then resolves through combined(name) -> Variant or None.
    switches: tuple[str, ...] = field(default=())
    combination: Callable[[set], str] | None = None
    combined: Callable[[str], Variant | None] | None = None

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        if self.combined is not None and (made := self.combined(name)) is not None:
            return made
        raise ParamError(f"unknown variant '{name}' for experiment '{self.name}'; "
                         f"allowed: {', '.join(self.variant_names())}")

    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def ignored_by(self, variant: str) -> tuple[str, ...]:
        """The parameters ``variant`` does not read (see ``Param.used_by``)."""
        return tuple(p.name for p in self.params if p.used_by is not None and variant not in p.used_by)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        allowed = ", ".join(p.name for p in self.params) or "none"
        raise ParamError(f"unknown parameter '{name}' for experiment '{self.name}'; allowed: {allowed}")

    def resolve_params(self, given: dict | None = None) -> dict:
        """Defaults overlaid with ``given`` (validated); string values are parsed."""
        values = {p.name: p.default for p in self.params}
        for name, value in (given or {}).items():
            p = self.param(name)
            values[name] = p.parse(value) if isinstance(value, str) and p.kind is not str else p.validate(value)
        return values
