"""Tidy result tables with provenance, and their files.

A table is a list of rows, one per trial x variant x thread count (x swept parameter
value), plus the provenance of the machine(s) that measured them. It round-trips to

- JSON: ``{"format": "kernlab-results", "version": 1, "provenance": [...], "columns": {...}, "rows": [...]}``
- CSV: a plain CSV that ``pandas.read_csv`` or a spreadsheet opens as it is (lists are
  written as ``1;2;3``), plus a sidecar ``<name>.csv.meta.json`` holding the header
  (provenance and column types). Without its sidecar a CSV still loads: column types
  are inferred and the provenance is empty. (Files from before the sidecar, whose first
  line is ``# kernlab-results {header}``, still load.)

Files are written atomically (a temporary file in the same folder, fsync, rename), so
a crash leaves either the old file or the new one, never half of one. Loading a file
that is not a kernlab results file raises ``ResultsFileError`` with one clear line.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone

FORMAT = "kernlab-results"
VERSION = 1
_CSV_MAGIC = f"# {FORMAT} "


def median_trial(rows, key="ops_per_sec"):
    """The trial whose ``key`` (a column name, or a function of a trial) is the (lower)
    median over ``rows``. A whole real trial, not a median per field: its per-thread
    counts, series and histogram belong together. The lower median keeps an even number
    of trials on an observed value. Used for table rows and ``RunResult`` trials alike."""
    ordered = sorted(rows, key=key if callable(key) else (lambda r: r[key]))
    return ordered[(len(ordered) - 1) // 2]


class ResultsFileError(ValueError):
    """A file that cannot be read as kernlab results (corrupt, foreign or too new)."""


@dataclass
class ResultTable:
    rows: list = field(default_factory=list)
    provenance: list = field(default_factory=list)   # one probe() dict per machine

    def __len__(self):
        return len(self.rows)

    def add(self, run_result) -> None:
        """Append a results.RunResult's rows (stamped with the time) and its machine."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for row in run_result.rows():
            row["timestamp"] = stamp
            self.rows.append(row)
        self._add_provenance(run_result.machine)

    def extend(self, other: ResultTable) -> None:
        self.rows.extend(other.rows)
        for p in other.provenance:
            self._add_provenance(p)

    def _add_provenance(self, machine: dict) -> None:
        key = {k: v for k, v in machine.items() if k != "probed_at"}
        if all({k: v for k, v in p.items() if k != "probed_at"} != key for p in self.provenance):
            self.provenance.append(machine)

    def columns(self) -> list[str]:
        cols: dict[str, None] = {}
        for row in self.rows:
            cols.update(dict.fromkeys(row))
        return list(cols)

    def column(self, name: str) -> list:
        return [row.get(name) for row in self.rows]

    def where(self, **equal) -> ResultTable:
        rows = [r for r in self.rows if all(r.get(k) == v for k, v in equal.items())]
        return ResultTable(rows, list(self.provenance))

    def median_rows(self, by: str = "variant") -> list[dict]:
        """One row per value of ``by`` (in first-seen order): its median trial."""
        return [median_trial(self.where(**{by: value}).rows) for value in dict.fromkeys(self.column(by))]

    def to_pandas(self):
        import pandas as pd  # optional: kernlab itself does not need pandas
        return pd.DataFrame(self.rows)

    # ------------------------------------------------------------------ serialization
    def _header(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "provenance": self.provenance,
                "columns": {c: _kind(self.column(c)) for c in self.columns()}}

    def to_json_text(self) -> str:
        return json.dumps({**self._header(), "rows": self.rows}, indent=1, default=_jsonable)

    def to_csv_text(self) -> str:
        buf = io.StringIO()
        cols = self.columns()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({c: _csv_cell(row.get(c)) for c in cols})
        return buf.getvalue()

    def save(self, path: str) -> str:
        """Write CSV or JSON (by extension) atomically; returns the path."""
        if path.endswith(".json"):
            atomic_write(path, self.to_json_text())
            return path
        # The sidecar first: a crash between the two leaves a complete header for rows
        # that are not there yet (ignored on load), never rows without their types.
        atomic_write(sidecar_path(path), json.dumps(self._header(), indent=1, default=_jsonable))
        atomic_write(path, self.to_csv_text())
        return path

    @classmethod
    def load(cls, path: str) -> ResultTable:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise ResultsFileError(f"{path}: not a kernlab results file (not UTF-8 text)") from None
        if path.endswith(".json"):
            return cls.from_json_text(text, path)
        header = None
        if os.path.exists(sidecar_path(path)):
            try:
                with open(sidecar_path(path), encoding="utf-8") as f:
                    header = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ResultsFileError(f"{sidecar_path(path)}: corrupt kernlab results header ({e})") from None
        return cls.from_csv_text(text, path, header)

    @classmethod
    def from_json_text(cls, text: str, source: str = "<text>") -> ResultTable:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ResultsFileError(f"{source}: not a kernlab results file (invalid JSON: {e.msg})") from None
        _check_header(data, source)
        if not isinstance(data.get("rows"), list):
            raise ResultsFileError(f"{source}: kernlab results file without a rows list")
        return cls(data["rows"], data.get("provenance", []))

    @classmethod
    def from_csv_text(cls, text: str, source: str = "<text>", header: dict | None = None) -> ResultTable:
        """A plain CSV (``header``: its sidecar, if any) or an old one with the header inline."""
        if text.startswith(_CSV_MAGIC):
            first, _, text = text.partition("\n")
            try:
                header = json.loads(first[len(_CSV_MAGIC):])
            except json.JSONDecodeError as e:
                raise ResultsFileError(f"{source}: corrupt kernlab results header ({e.msg})") from None
        if header is not None:
            _check_header(header, source)
        try:
            records = list(csv.DictReader(io.StringIO(text)))
            if any(None in record for record in records):
                raise ValueError("a row has more cells than the header")
            missing = [c for c in _REQUIRED if records and c not in records[0]]
            if not records or missing:
                raise ResultsFileError(f"{source}: not a kernlab results file (no rows with the columns "
                                       f"{', '.join(_REQUIRED)})")
            kinds = (header or {}).get("columns") or {c: _infer_kind([r[c] for r in records]) for c in records[0]}
            rows = [{k: _parse_cell(v, kinds.get(k, "str")) for k, v in r.items() if v != ""} for r in records]
        except (ValueError, csv.Error) as e:
            if isinstance(e, ResultsFileError):
                raise
            raise ResultsFileError(f"{source}: corrupt kernlab results file ({e})") from None
        return cls(rows, (header or {}).get("provenance", []))


def combine(tables: dict) -> ResultTable:
    """One table from several (source name -> table), every row labelled with the machine
    that measured it; when two sources share a machine label, the source name is added,
    so their rows stay separate series instead of merging into one line."""
    from .results import machine_label
    labels = {}
    for source, table in tables.items():
        fallback = machine_label(table.provenance[0]) if table.provenance else os.path.basename(str(source))
        labels[source] = {r.get("machine") or fallback for r in table.rows}
    out = ResultTable()
    for source, table in tables.items():
        clash = any(labels[source] & labels[other] for other in tables if other != source)
        for row in table.rows:
            label = row.get("machine") or next(iter(labels[source]))
            out.rows.append({**row, "machine": f"{label} ({os.path.basename(str(source))})" if clash else label})
        for p in table.provenance:
            out._add_provenance(p)
    return out


def sidecar_path(csv_path: str) -> str:
    """Where a CSV's header (provenance, column types) lives."""
    return csv_path + ".meta.json"


_REQUIRED = ("experiment", "variant", "threads", "ops_per_sec")


def _infer_kind(cells) -> str:
    """The type of a CSV column without its sidecar, from its non-empty cells."""
    cells = [c for c in cells if c != ""]
    for kind in ("bool", "int", "float", "list"):
        try:
            for c in cells:
                _parse_cell(c, kind)
            if kind != "list" or any(";" in c for c in cells):
                return kind
        except ValueError:
            continue
    return "str"


def _check_header(header, source):
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ResultsFileError(f"{source}: not a kernlab results file (format is not '{FORMAT}')")
    if header.get("version") != VERSION:
        raise ResultsFileError(f"{source}: kernlab results version {header.get('version')!r}, "
                               f"this kernlab reads version {VERSION}")


def _kind(values) -> str:
    kinds = {type(v).__name__ for v in values if v is not None}
    if kinds <= {"bool"} and kinds:
        return "bool"
    if kinds <= {"int"} and kinds:
        return "int"
    if kinds <= {"int", "float"} and kinds:
        return "float"
    if kinds <= {"list"} and kinds:
        return "list"
    return "str"


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def _parse_cell(text, kind):
    if kind == "bool":
        if text not in ("True", "False"):
            raise ValueError(f"expected True or False, got {text!r}")
        return text == "True"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "list":
        return [int(x) if x.lstrip("-").isdigit() else float(x) for x in text.split(";") if x]
    return text


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a results file")


def atomic_write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kernlab-", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
