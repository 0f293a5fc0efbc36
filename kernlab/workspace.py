"""The notebooks and reference data kernlab ships, and a user's own copy of the notebooks.

One copy of each lives in the repository (``notebooks/``, ``data/``). A wheel carries
them as the packages ``kernlab.notebooks`` and ``kernlab.data`` (pyproject maps the two
folders), found through ``importlib.resources``; in a checkout (an editable install)
they are the repository's folders.

``copy_notebooks(dest)`` gives a user a workspace to work in. It never overwrites a
notebook the user changed: a manifest in ``dest`` records the hash of every copy it
wrote, so a file whose hash still matches is an untouched copy (refreshed with
``update=True``), and any other file is the user's (kept).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from .tables import atomic_write

CHECKOUT = Path(__file__).resolve().parent.parent
MANIFEST = ".kernlab-notebooks.json"
DEFAULT_WORKSPACE = Path.home() / "kernlab-notebooks"


def in_checkout() -> bool:
    """True when kernlab runs from a source checkout (not from an installed wheel)."""
    return all((CHECKOUT / p).exists() for p in ("pyproject.toml", "notebooks", "data", "kernlab"))


def _shipped(folder: str):
    return CHECKOUT / folder if in_checkout() else files(f"kernlab.{folder}")


def shipped_notebooks() -> list:
    """The notebooks kernlab ships, in order (``importlib.resources`` traversables)."""
    return sorted((p for p in _shipped("notebooks").iterdir() if p.name.endswith(".ipynb")), key=lambda p: p.name)


def reference_files(prefix: str = "") -> list[str]:
    """Names of the shipped reference data files (measured results with provenance),
    optionally only those starting with ``prefix``."""
    return sorted(p.name for p in _shipped("data").iterdir()
                  if p.name.endswith((".json", ".csv")) and not p.name.endswith(".meta.json")
                  and p.name.startswith(prefix))


def reference(name: str) -> dict:
    """A shipped JSON reference file (a benchmark record: machine, command, figures, raw)."""
    if name not in reference_files():
        raise FileNotFoundError(f"no reference file '{name}'; shipped: {', '.join(reference_files())}")
    return json.loads((_shipped("data") / name).read_text(encoding="utf-8"))


def reference_table(name: str):
    """A shipped results table (a sweep measured on another machine, with its provenance)
    as a ResultTable, ready to plot beside this machine's runs."""
    from .tables import ResultTable
    if name not in reference_files():
        raise FileNotFoundError(f"no reference file '{name}'; shipped: {', '.join(reference_files())}")
    path = _shipped("data") / name
    text = path.read_text(encoding="utf-8")
    return ResultTable.from_json_text(text, name) if name.endswith(".json") else ResultTable.from_csv_text(text, name)


@dataclass
class CopyReport:
    copied: list = field(default_factory=list)       # new in the workspace
    updated: list = field(default_factory=list)      # an untouched older copy, refreshed
    unchanged: list = field(default_factory=list)    # already the shipped version
    outdated: list = field(default_factory=list)     # an untouched older copy, left (no update)
    kept: list = field(default_factory=list)         # changed by the user: never overwritten

    def summary(self) -> str:
        parts = [f"{len(self.copied)} copied", f"{len(self.updated)} updated", f"{len(self.unchanged)} up to date"]
        lines = [", ".join(parts)]
        if self.kept:
            lines.append("kept your changes in: " + ", ".join(self.kept))
        if self.outdated:
            lines.append(f"{len(self.outdated)} have a newer version (run with --update): " + ", ".join(self.outdated))
        return "\n".join(lines)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_notebooks(dest, update: bool = False) -> CopyReport:
    """Copy the shipped notebooks into ``dest`` (created if missing); see the module doc."""
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"workspace '{dest}' exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    report = CopyReport()
    for source in shipped_notebooks():
        name, new = source.name, source.read_bytes()
        target = dest / name
        if not target.exists():
            report.copied.append(name)
        else:
            current = _digest(target.read_bytes())
            if current == _digest(new):
                report.unchanged.append(name)
                manifest[name] = current
                continue
            if manifest.get(name) != current:
                report.kept.append(name)
                continue
            if not update:
                report.outdated.append(name)
                continue
            report.updated.append(name)
        atomic_write(str(target), new.decode("utf-8"))
        manifest[name] = _digest(new)
    atomic_write(str(manifest_path), json.dumps(manifest, indent=1, sort_keys=True))
    return report


def lab_folder(requested=None) -> Path:
    """The folder ``kernlab lab`` opens: ``requested`` (a workspace, created on first use),
    else the repository's notebooks in a checkout, else DEFAULT_WORKSPACE."""
    if requested is None and in_checkout():
        return CHECKOUT / "notebooks"
    folder = Path(requested or DEFAULT_WORKSPACE).expanduser()
    if not (folder / MANIFEST).exists() and not any(folder.glob("*.ipynb")):
        copy_notebooks(folder)
    return folder
