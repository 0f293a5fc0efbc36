"""The architecture's rules, checked: layering, no import cycles, the primitives'
docstring sections, file sizes, and notebooks that use only the public API."""
import ast
import json
import re
from pathlib import Path

import pytest

import kernlab

ROOT = Path(kernlab.__file__).parent
SECTIONS = ("Algorithm", "Invariants", "Memory ordering", "Progress guarantee", "References")
# What a primitive may import from kernlab: the layers below it (DESIGN.md).
PRIMITIVE_MAY_IMPORT = {"atomics", "jit", "layout", "harness", "workload", "machine", "primitives"}
MAX_LINES = 350


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__"), path


def _kernlab_imports(name: str, path: Path, nodes) -> set[str]:
    """Absolute names (without ``kernlab.``) of the kernlab modules imported by ``nodes``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            found.update([base] if node.module else (f"{base}.{a.name}".lstrip(".") for a in node.names))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kernlab"):
            found.add(node.module.removeprefix("kernlab").lstrip("."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("kernlab.") for a in node.names if a.name.startswith("kernlab."))
    return {f for f in found if f}


MODULES = dict(_modules())


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("primitives")])
def test_primitives_import_only_the_layers_below(name):
    tree = ast.parse(MODULES[name].read_text())
    imported = _kernlab_imports(name, MODULES[name], ast.walk(tree))
    bad = {m for m in imported if m.split(".")[0] not in PRIMITIVE_MAY_IMPORT}
    assert not bad, f"{name} imports {sorted(bad)}"


def test_no_import_cycle_at_module_level():
    """Module-level imports form a DAG (lazy imports inside functions may point up)."""
    graph = {}
    for name, path in MODULES.items():
        deps = _kernlab_imports(name, path, ast.parse(path.read_text()).body)
        graph[name] = {d for d in deps if d in MODULES and d != name}
    state = {}

    def visit(n, stack):
        state[n] = "active"
        for d in sorted(graph[n]):
            if state.get(d) == "active":
                raise AssertionError("import cycle: " + " -> ".join(stack + [n, d]))
            if d not in state:
                visit(d, stack + [n])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [])


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("primitives.")])
def test_primitive_docstrings_keep_the_five_sections(name):
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text())) or ""
    missing = [s for s in SECTIONS if not re.search(rf"^{s}\b", doc, re.M)]
    assert not missing, f"primitives/{name}: docstring lacks {missing}"


def test_files_stay_small_or_say_why():
    long = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES and not any("longer than" in ln and "because" in ln for ln in lines[:40]):
            long.append(f"{name} ({len(lines)} lines)")
    assert not long, f"over {MAX_LINES} lines without a reason at the top: {long}"


NOTEBOOKS = sorted((ROOT.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_use_only_the_public_api(path):
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "code")
    internal = re.findall(r"from kernlab\.\w+ import|import kernlab\.\w+|from kernlab import \w+", code)
    private = [m for m in re.findall(r"kernlab(?:\.\w+)*\.(_\w+)", code)]
    unknown = {m for m in re.findall(r"\bkernlab\.(\w+)", code)} - set(kernlab.__all__)
    assert not internal and not private and not unknown, (internal, private, unknown)
