"""kernlab.jit: the one jit factory, and a disk cache that never hands back machine code
compiled from older sources (issue 8: numba checks only a function's own file, while
callees from other files are compiled into it)."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kernlab
from kernlab import jit
from kernlab.experiments import get
from kernlab.worker import make_worker

PACKAGE = Path(kernlab.__file__).parent
COUNTER_ADD = "A.fetch_add_relaxed(counter, i, 1)"      # in primitives/counters.py: the atomic counter's add

# Files whose code is compiled into kernels (directly or inlined), and files that only
# drive and show runs.
COMPILED = ["atomics.py", "layout.py", "harness.py", "worker.py", "workload.py", "jit.py",
            "primitives/counters.py", "primitives/locks.py", "experiments/counter.py"]
NOT_COMPILED = ["ui.py", "cli.py", "results.py", "tables.py", "sweeps.py", "claims.py", "__init__.py",
                "plots/__init__.py"]


def _copy_package(dest: Path) -> Path:
    shutil.copytree(PACKAGE, dest / "kernlab", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return dest / "kernlab"


def _digest_of(package: Path) -> str:
    """SOURCE_DIGEST as the copy's own jit.py computes it (jit.py imports no kernlab module)."""
    spec = importlib.util.spec_from_file_location(f"_kernlab_jit_copy_{abs(hash(str(package)))}", package / "jit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SOURCE_DIGEST


@pytest.fixture
def copy(tmp_path):
    package = _copy_package(tmp_path)
    return package, _digest_of(package)


def test_digest_is_a_function_of_the_sources(copy):
    package, digest = copy
    assert digest == _digest_of(package) and len(digest) >= 8


@pytest.mark.parametrize("rel", COMPILED)
def test_an_edit_to_compiled_source_changes_the_digest(copy, rel):
    package, digest = copy
    path = package / rel
    original = path.read_bytes()
    path.write_bytes(original + b"\n# an edit\n")
    assert _digest_of(package) != digest
    path.write_bytes(original)
    assert _digest_of(package) == digest          # the content decides, not the time stamp


def test_a_new_compiled_module_changes_the_digest(copy):
    package, digest = copy
    (package / "primitives" / "new_pattern.py").write_text("X = 1\n")
    assert _digest_of(package) != digest


@pytest.mark.parametrize("rel", NOT_COMPILED)
def test_an_edit_to_presentation_code_keeps_the_digest(copy, rel):
    package, digest = copy
    path = package / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this tree")
    path.write_bytes(path.read_bytes() + b"\n# an edit\n")
    assert _digest_of(package) == digest          # no reason to recompile every kernel


def test_kernels_and_workers_are_keyed_on_the_digest():
    counter = get("counter")
    op = counter.variant("atomic").op
    assert op.py_func.__qualname__.endswith(f"__k{jit.SOURCE_DIGEST}")
    assert make_worker(op).py_func.__qualname__ == f"worker_{op.py_func.__name__}__k{jit.SOURCE_DIGEST}"


def _cli_run_counter(root: Path) -> dict:
    # the copy's own cache folder (NUMBA_CACHE_DIR may point elsewhere, e.g. a cold-cache run)
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(root / "numba_cache")}
    where = subprocess.run([sys.executable, "-c", "import kernlab; print(kernlab.__file__)"], cwd=root,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).parent == root / "kernlab", where     # the copy runs, not the installed tree
    out = subprocess.run([sys.executable, "-m", "kernlab.cli", "run", "counter", "--variant", "atomic",
                          "--threads", "1", "--duration", "0.05", "--repeats", "1", "--json"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stderr
    j = json.loads(out.stdout)
    assert (out.returncode == 0) == j["check"]["passed"], (out.returncode, j["check"])
    return j


@pytest.mark.stress
@pytest.mark.timeout(1800)
def test_an_edited_primitive_is_recompiled(tmp_path):
    """The issue as a student meets it: run, edit a primitive, run again. The edit is in
    primitives/counters.py; the cached worker lives beside experiments/counter.py, which
    numba alone would find unchanged and load with the old add compiled in."""
    package = _copy_package(tmp_path)
    first = _cli_run_counter(tmp_path)
    assert first["check"]["passed"], first["check"]
    assert any((tmp_path / "numba_cache").rglob("*.nbi")), "nothing was cached: the test would prove nothing"

    counters = package / "primitives" / "counters.py"
    source = counters.read_text()
    assert source.count(COUNTER_ADD) == 1, f"{COUNTER_ADD!r} not found once in {counters}"
    counters.write_text(source.replace(COUNTER_ADD, COUNTER_ADD.replace(", 1)", ", 2)")))
    edited = _cli_run_counter(tmp_path)
    # every op now adds 2: the count is twice the operations, and the check says so
    assert not edited["check"]["passed"], "the old machine code ran: the cache ignored the edit"
    assert "lost -" in edited["check"]["detail"], edited["check"]

    counters.write_text(source)               # undone: the code compiled first is right again
    assert _cli_run_counter(tmp_path)["check"]["passed"]
