"""Writing a figure to disk: self-contained HTML always works; static images need kaleido
and a Chromium, which cannot be downloaded here, so their absence is an ExportError the
caller can answer with HTML."""
from __future__ import annotations

import html
import os
import shutil

import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure


class ExportError(RuntimeError):
    """A static image could not be written (no browser for kaleido)."""


def browser_available() -> bool:
    return bool(os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
                or shutil.which("google-chrome"))


def export_figure(fig: go.Figure, path: str) -> str:
    """Write ``fig`` by extension: .html is self-contained (plotly.js embedded, works
    offline); .png/.svg/.pdf need kaleido and a Chromium on PATH (ExportError if not)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".html"):
        # Not the CDN mode: that page is blank offline.
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        return path
    if not browser_available():
        raise ExportError("static export needs Chromium on PATH (apt-get install chromium); "
                          "export .html instead, it needs nothing")
    try:
        fig.write_image(path)
    except Exception as e:  # kaleido reports a missing or broken browser in many ways
        raise ExportError(f"static export failed ({type(e).__name__}: {e}); export .html instead") from None
    return path


def export_page(sections: dict, path: str, title: str = "kernlab") -> str:
    """Several sections (heading -> a figure, or an HTML fragment such as a verdict) in one
    self-contained HTML page, plotly.js embedded once."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    parts, js = [], True
    for name, item in sections.items():
        if isinstance(item, BaseFigure):
            item, js = item.to_html(full_html=False, include_plotlyjs=js), False
        parts.append(f"<h2>{html.escape(name)}</h2>{item}")
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
    page += f"<h1>{html.escape(title)}</h1>" + "".join(parts) + "</body></html>"
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
