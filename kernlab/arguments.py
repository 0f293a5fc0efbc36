"""The command line's argument values, each checked with a one-line error that names the
option and what it allows (the CLI turns a ParamError into that line and exit status 2)."""
from __future__ import annotations

from .declaration import ParamError
from .runner import MAX_DURATION_S


def parse_kv(items) -> dict:
    params = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ParamError(f"--param expects NAME=VALUE, got {item!r}")
        params[name.strip()] = value.strip()
    return params


def int_list(text, what) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ParamError(f"{what} must be a comma-separated list of integers, got {text!r}") from None
    if not values or any(v < 1 or v > 1024 for v in values):
        raise ParamError(f"{what} must be integers in [1, 1024], got {text!r}")
    return values


def pin_value(text):
    """``--pin`` value: a policy name, or a comma-separated list of CPU ids."""
    if text in ("none", "compact", "scattered"):
        return text
    try:
        return [int(x) for x in text.split(",") if x.strip()] or None
    except ValueError:
        raise ParamError(f"--pin must be none, compact, scattered or CPU ids like 0,3, got {text!r}") from None


def duration_value(text) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= MAX_DURATION_S):
        raise ParamError(f"--duration must be a number of seconds in (0, {MAX_DURATION_S:g}], got {text!r}")
    return value


def results_file(path: str) -> str:
    if not path.endswith((".csv", ".json")):
        raise ParamError(f"--out must end in .csv or .json, got {path!r}")
    return path


def repeats_value(text) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise ParamError(f"--repeats must be an integer in [1, 1000], got {text!r}")
    return value
