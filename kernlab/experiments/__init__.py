"""The registry of experiments. Every module in this package that defines a module-level
``EXPERIMENT`` is registered (and its ``CLAIMS``, if any), so adding an experiment needs
no edit here."""
from __future__ import annotations

import importlib
import pkgutil

from ..declaration import Experiment, ParamError

_REGISTRY: dict[str, Experiment] = {}
_CLAIMS: dict = {}


def _discover():
    if _REGISTRY:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            _REGISTRY[exp.name] = exp
        for claim in getattr(module, "CLAIMS", ()):
            _CLAIMS[claim.id] = claim


def all_experiments() -> dict[str, Experiment]:
    _discover()
    return dict(_REGISTRY)


def get(name: str) -> Experiment:
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ParamError(f"unknown experiment '{name}'; allowed: {', '.join(sorted(_REGISTRY))}") from None


def all_claims() -> dict:
    _discover()
    return dict(_CLAIMS)
