"""Compiled code, shown: the assembly or LLVM IR of a variant's op, with what matters marked.

A student should not have to trust that "the compiler vectorised it" or "the fence
became an mfence": ``op_code`` compiles a variant's op afresh (cached code carries no
assembly) for the state its experiment builds, and ``op_function`` keeps only the op's
own function from numba's listing (it also holds the CPython wrapper). Then:

- ``vector_summary`` counts packed vector instructions by register width (xmm 128,
  ymm 256, zmm 512 bits), packed compares among them, and says whether a *loop*
  holds any: that is what "the loop was vectorised" means here;
- ``ordering_lines`` picks the lines that implement memory ordering: atomic loads and
  stores, read-modify-writes, CAS and fences in the IR; ``lock``-prefixed
  instructions, ``xchg`` and the fences in x86 assembly;
- ``marked`` prefixes those lines (vector or ordering) so they stand out in a listing,
  and ``side_by_side`` renders several listings as HTML columns for a notebook.

The op is compiled alone, so what it calls out of line appears as a call; the fast-path
test (tests/test_fast_paths.py) makes sure correct variants inline their hot path.
"""
from __future__ import annotations

import html
import re
import warnings

import numba

from .declaration import ParamError
from .experiments import get
from .harness import control_block
from .jit import OPTIONS

KINDS = ("asm", "llvm")
_LABEL = re.compile(r"^([.\w$]+):")
_JUMP = re.compile(r"^\s+(j[a-z]+)\s+(\.?[\w$]+)")
_REGISTER_BITS = {"zmm": 512, "ymm": 256, "xmm": 128}
# Scalar instructions that happen to use vector registers (one lane of float math,
# moves between general and vector registers): not vector code.
_SCALAR = re.compile(r"^v?(mov[dq]|cvt\w+|\w+s[sd]|u?comis[sd]|vzeroupper)$")
_NOT_PACKED = re.compile(r"^(pause|push\w*|pop\w*|prefetch\w*)$")
_PACKED_COMPARE = re.compile(r"^v?(pcmp\w+|cmpp[sd]|cmp\w*p[sd])$")
_ASM_ORDERING = re.compile(r"^\s+(lock\b|xchg|mfence|lfence|sfence)")
_IR_ORDERING = re.compile(r"\b(load atomic|store atomic|atomicrmw|cmpxchg|fence)\b")


def op_code(experiment: str, variant: str, kind: str = "asm", params: dict | None = None,
            threads: int = 2) -> str:
    """The full listing numba produces for ``variant``'s op, compiled for ``threads``."""
    if kind not in KINDS:
        raise ParamError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    exp = get(experiment)
    op = exp.variant(variant).op
    state = tuple(exp.setup(threads, exp.resolve_params(params)))
    sig = (numba.typeof(control_block()), numba.typeof(state), numba.int64, numba.int64)
    return _inspect(_fresh(op.py_func, sig), sig, kind)


def _fresh(py_func, sig):
    fresh = numba.njit(**{**OPTIONS, "cache": False})(py_func)
    fresh.compile(sig)
    return fresh


def _inspect(dispatcher, sig, kind):
    return dispatcher.inspect_asm(sig) if kind == "asm" else dispatcher.inspect_llvm(sig)


def listing(dispatcher, sig, kind: str = "asm") -> str:
    """The listing of ``dispatcher`` compiled for ``sig``: its own code when this process
    compiled it (a worker a test already ran: no second compile), else the same function
    compiled afresh, since code loaded from numba's disk cache carries no listing."""
    dispatcher.compile(sig)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Inspection disabled for cached code")
        try:
            return _inspect(dispatcher, sig, kind)
        except UserWarning:
            pass
    return _inspect(_fresh(dispatcher.py_func, sig), sig, kind)


def op_function(listing: str) -> str:
    """The op's own function out of a listing (assembly or IR), without numba's wrappers."""
    lines = listing.splitlines()
    if any(line.startswith("define ") for line in lines):  # LLVM IR
        start = next(i for i, line in enumerate(lines) if line.startswith("define ") and "cpython" not in line)
        end = next(i for i in range(start, len(lines)) if lines[i] == "}")
        return "\n".join(lines[start:end + 1])
    start = next(i for i, line in enumerate(lines) if _LABEL.match(line) and not line.startswith(".")
                 and "cpython" not in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(".Lfunc_end")), len(lines))
    return "\n".join(lines[start:end])


def _mnemonic(line: str) -> str:
    parts = line.split()
    return parts[0] if parts and not line[:1].strip() and not parts[0].startswith(".") else ""


def vector_width(line: str) -> int:
    """Bits of the widest vector register a *packed* instruction uses; 0 for scalar code."""
    mnemonic = _mnemonic(line)
    if not mnemonic or _SCALAR.match(mnemonic) or _NOT_PACKED.match(mnemonic):
        return 0
    return max((bits for name, bits in _REGISTER_BITS.items() if f"%{name}" in line), default=0)


def loops(asm: str) -> list[tuple[int, int]]:
    """Line spans (label line, backward jump line) of the loops in an assembly function."""
    lines = asm.splitlines()
    labels = {m.group(1): i for i, line in enumerate(lines) if (m := _LABEL.match(line))}
    spans = []
    for i, line in enumerate(lines):
        m = _JUMP.match(line)
        if m and m.group(2) in labels and labels[m.group(2)] < i:
            spans.append((labels[m.group(2)], i))
    return spans


def vector_summary(asm: str) -> dict:
    """Packed vector instructions by width, packed compares, and whether a loop holds any."""
    lines = asm.splitlines()
    counts = {"xmm": 0, "ymm": 0, "zmm": 0}
    compares = 0
    vector_lines = set()
    for i, line in enumerate(lines):
        bits = vector_width(line)
        if bits:
            counts[{128: "xmm", 256: "ymm", 512: "zmm"}[bits]] += 1
            vector_lines.add(i)
            compares += bool(_PACKED_COMPARE.match(_mnemonic(line)))
        elif re.match(r"^v?pcmp|^vpcmp", _mnemonic(line)) and "%k" in line:
            compares += 1  # AVX-512 compares write a mask register
    in_loop = any(a <= i <= b for a, b in loops(asm) for i in vector_lines)
    return {**counts, "packed_compares": compares, "vectorised": in_loop}


def summary_line(summary: dict) -> str:
    widths = ", ".join(f"{summary[w]} {w}" for w in ("xmm", "ymm", "zmm"))
    verdict = "a loop is vectorised" if summary["vectorised"] else "no loop is vectorised"
    return f"vector instructions: {widths}; {summary['packed_compares']} packed compares; {verdict}"


def ordering_lines(listing: str) -> list[str]:
    """The lines that implement memory ordering (IR atomics and fences, x86 locked ops and fences)."""
    pattern = _IR_ORDERING if "define " in listing else _ASM_ORDERING
    return [line.strip() for line in listing.splitlines() if pattern.search(line)]


def _is_marked(line: str, ir: bool) -> bool:
    if ir:
        return bool(_IR_ORDERING.search(line))
    return bool(vector_width(line) or _ASM_ORDERING.search(line))


def marked(listing: str, marker: str = ">> ") -> str:
    """The listing with vector and ordering lines prefixed by ``marker``, the rest indented to match."""
    ir = "define " in listing
    pad = " " * len(marker)
    return "\n".join((marker if _is_marked(line, ir) else pad) + line for line in listing.splitlines())


def side_by_side(listings: dict[str, str], max_lines: int = 400) -> str:
    """HTML columns, one per listing (title -> text), marked lines highlighted."""
    columns = []
    for title, listing in listings.items():
        ir = "define " in listing
        rows = []
        for line in listing.splitlines()[:max_lines]:
            text = html.escape(line)
            rows.append(f"<mark>{text}</mark>" if _is_marked(line, ir) else text)
        columns.append(f"<div style='flex:1;min-width:0'><b>{html.escape(title)}</b>"
                       f"<pre style='font-size:11px;overflow:auto;max-height:480px'>{chr(10).join(rows)}</pre></div>")
    return f"<div style='display:flex;gap:12px'>{''.join(columns)}</div>"


class CompiledCode:
    """Several variants' op functions, shown side by side in a notebook (HTML) or as text."""

    def __init__(self, experiment: str, kind: str, listings: dict[str, str]):
        self.experiment, self.kind, self.listings = experiment, kind, listings

    def summaries(self) -> dict[str, dict]:
        """Variant -> ``vector_summary`` (assembly only)."""
        return {name: vector_summary(text) for name, text in self.listings.items()} if self.kind == "asm" else {}

    def ordering(self) -> dict[str, list[str]]:
        """Variant -> its memory-ordering lines."""
        return {name: ordering_lines(text) for name, text in self.listings.items()}

    def _captions(self) -> dict[str, str]:
        summaries = self.summaries()
        return {name: summary_line(summaries[name]) if name in summaries else
                f"{len(ordering_lines(text))} memory-ordering lines" for name, text in self.listings.items()}

    def _repr_html_(self):
        captions = self._captions()
        return side_by_side({f"{name}: {captions[name]}": text for name, text in self.listings.items()})

    def __str__(self):
        captions = self._captions()
        return "\n\n".join(f"== {self.experiment} / {name} ({self.kind}): {captions[name]}\n{marked(text)}"
                           for name, text in self.listings.items())


def compiled_code(experiment: str, variants, kind: str = "asm", params: dict | None = None) -> CompiledCode:
    """The op functions of ``variants`` (a name or a list), compiled afresh, ready to show."""
    names = [variants] if isinstance(variants, str) else list(variants)
    return CompiledCode(experiment, kind, {v: op_function(op_code(experiment, v, kind, params)) for v in names})
