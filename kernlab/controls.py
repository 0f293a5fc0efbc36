"""The panel's building blocks: a control per declared parameter, the values a swept
parameter takes, notes on out-of-range input, and files offered as browser downloads.

A bounded text box would clamp 0.3 to 0.5 without a word; these controls keep what was
typed and ``range_note`` says what is wrong, so the Run button's refusal is no surprise.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import os

import ipywidgets as W

from .declaration import Param, ParamError

DOWNLOAD_LIMIT_BYTES = 40 << 20     # larger files are only written on the server


def param_widget(p: Param) -> W.Widget:
    """One control per parameter, chosen from its declaration."""
    common = dict(description=p.name, tooltip=f"{p.help} ({p.allowed()})", style={"description_width": "initial"})
    if p.choices is not None:
        return W.Dropdown(options=list(p.choices), value=p.default, **common)
    if p.kind is bool:
        return W.Checkbox(value=bool(p.default), indent=False, **common)
    if p.kind is int and p.low is not None and p.high - p.low <= 1000 and not p.log_scale:
        return W.IntSlider(value=p.default, min=p.low, max=p.high, **common)  # cannot leave its range
    if p.kind is int:
        return W.IntText(value=p.default, **common)
    if p.kind is float:
        return W.FloatText(value=p.default, **common)
    return W.Text(value=str(p.default), **common)


def range_note(p: Param, value) -> str:
    """Empty when ``value`` is allowed, else one line saying why not."""
    try:
        p.validate(value)
    except ParamError as e:
        return str(e)
    return ""


def sweepable(p: Param) -> bool:
    """Parameters that can be a panel's x axis: fixed choices, or numbers."""
    return p.choices is not None or p.kind in (int, float)


def suggested_values(p: Param) -> list:
    """Values to sweep when the user has not typed any: the choices, or a spread over
    the declared range that includes the default. Ratios get "nines" (0.9, 0.99 ...),
    wide ranges a geometric series, narrow ones an even one."""
    if p.choices is not None:
        return list(p.choices)
    low = p.low if p.low is not None else min(p.default, 0)
    high = p.high if p.high is not None else max(p.default * 4, 1)
    if p.kind is float and 0 <= low and high <= 1:
        nines = [0.5, 0.9, 0.99, 0.999, 0.9999]
        picks = [v for v in [low, *nines, high] if low <= v <= high]
    elif low > 0 and high / low >= 100:
        picks = [low * (high / low) ** (i / 4) for i in range(5)]
    else:
        picks = [low + (high - low) * i / 4 for i in range(5)]
    if p.kind is int:
        picks = [int(round(v)) for v in picks]
        if p.power_of_two:
            picks = [1 << max(int(v).bit_length() - 1, 0) for v in picks]
    else:
        picks = [float(f"{v:.6g}") for v in picks]
    return sorted({*picks, p.default})


def parse_values(p: Param, text: str) -> list:
    """Comma-separated values for a swept parameter, each validated (ParamError names it)."""
    values = [p.parse(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise ParamError(f"values for '{p.name}': type comma-separated values, e.g. "
                         f"{', '.join(str(v) for v in suggested_values(p)[:4])}")
    return list(dict.fromkeys(values))


def values_text(values) -> str:
    return ", ".join(str(v) for v in values)


def download_links(paths) -> str:
    """HTML links that hand the files to the browser (data URIs), beside where they were
    written on the server; too-large files are only named."""
    links = []
    for path in paths:
        name = os.path.basename(path)
        size = os.path.getsize(path)
        if size > DOWNLOAD_LIMIT_BYTES:
            links.append(f"{html.escape(name)} (on the server only: {size >> 20} MiB)")
            continue
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        links.append(f"<a download='{html.escape(name)}' href='data:{kind};base64,{data}'>⬇ {html.escape(name)}</a>")
    return " · ".join(links)


def facts_table(facts: dict) -> W.HTML:
    """A dict (e.g. machine.probe()) as a two-column table."""
    rows = "".join(f"<tr><td style='text-align:left'><b>{k}</b></td><td style='text-align:left'>{v}</td></tr>"
                   for k, v in facts.items())
    return W.HTML(f"<table>{rows}</table>")


def row(*children) -> W.HBox:
    """A row of controls that wraps onto the next line in a narrow window, instead of
    pushing the last controls off the right edge with no hint."""
    return W.HBox(list(children), layout=W.Layout(flex_flow="row wrap"))
