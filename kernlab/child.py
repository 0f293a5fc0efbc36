"""Runs a whole run (warm-up and trials) in a child Python process with extra
environment variables, and brings its RunResult back.

Why a child: some conditions can only be set when a process starts. An allocator is
chosen by the dynamic linker (``LD_PRELOAD`` of jemalloc, mimalloc or tcmalloc puts
its ``malloc`` and ``free`` in front of glibc's for *every* caller in the process), and
numba's target CPU (``NUMBA_CPU_NAME``) is read once at import. An experiment asks for
one through ``Experiment.child_env(params)``; ``runner.run`` then calls
``run_in_child`` instead of running in-process.

Protocol. The parent writes the request (experiment name, variant, threads, duration,
repeats, params, warm-up, sample_every, pin) to a pickle in a temporary folder and
starts ``python -m kernlab.child REQUEST RESULT`` with the environment merged into its
own, plus ``KERNLAB_CHILD=1``: a child runs in-process and never starts another child.
The child checks that every library in ``LD_PRELOAD`` really got mapped, calls
``runner.run`` and pickles ``("ok", RunResult)`` or ``("error", type, message)`` to
RESULT. The parent polls the child; its cancel event or Ctrl-C terminates the child.
An error in the child comes back as one line; a ParamError stays a ParamError.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .declaration import ParamError

MARKER = "KERNLAB_CHILD"
STARTUP_ALLOWANCE_S = 600.0   # imports and a cold compile of the worker, on top of the run itself


def in_child() -> bool:
    """True inside a child started by ``run_in_child``."""
    return os.environ.get(MARKER) == "1"


def run_in_child(exp, variant: str, threads: int, duration: float, repeats: int, params: dict,
                 warmup: float, sample_every, pin: bool, cancel: threading.Event | None, env: dict):
    """``runner.run`` with these arguments, in a child process with ``env`` added."""
    from .runner import Cancelled
    request = dict(experiment=exp.name, variant=variant, threads=threads, duration=duration, repeats=repeats,
                   params=params, warmup=warmup, sample_every=sample_every, pin=pin)
    with tempfile.TemporaryDirectory(prefix="kernlab-child-") as folder:
        req, res = Path(folder) / "request.pkl", Path(folder) / "result.pkl"
        req.write_bytes(pickle.dumps(request))
        child_env = {**os.environ, **{k: str(v) for k, v in env.items()}, MARKER: "1"}
        proc = subprocess.Popen([sys.executable, "-m", "kernlab.child", str(req), str(res)], env=child_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        limit = time.monotonic() + STARTUP_ALLOWANCE_S + (warmup + duration) * (repeats + 1) * 2
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.wait(0.02):
                    _end(proc)
                    raise Cancelled("run cancelled")
                if cancel is None:
                    time.sleep(0.02)
                if time.monotonic() > limit:
                    _end(proc)
                    raise RuntimeError(f"the child process ({_describe(env)}) did not finish in time")
        except BaseException:          # Ctrl-C in the parent ends the child too
            _end(proc)
            raise
        stderr = proc.stderr.read() if proc.stderr else ""
        if not res.exists():
            last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "no output")
            raise RuntimeError(f"the child process ({_describe(env)}) exited with code {proc.returncode}: {last}")
        outcome = pickle.loads(res.read_bytes())
    if outcome[0] == "error":
        _, kind, message = outcome
        if kind == "ParamError":
            raise ParamError(message)
        raise RuntimeError(f"in the child process ({_describe(env)}): {kind}: {message}")
    result = outcome[1]
    result.machine = {**result.machine, "child_env": dict(env)}
    return result


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _describe(env: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in env.items() if k != MARKER)


def preload_problems() -> list:
    """Libraries named in LD_PRELOAD that are not mapped into this process (Linux)."""
    wanted = os.environ.get("LD_PRELOAD", "").replace(":", " ").split()
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    return [lib for lib in wanted if os.path.realpath(lib) not in maps and lib not in maps]


def _main(request_path: str, result_path: str) -> int:
    try:
        request = pickle.loads(Path(request_path).read_bytes())
        missing = preload_problems()
        if missing:
            raise RuntimeError(f"LD_PRELOAD did not load {', '.join(missing)}")
        from .experiments import get
        from .runner import run
        exp = get(request.pop("experiment"))
        outcome = ("ok", run(exp, **request))
    except BaseException as e:   # every failure goes back as one line
        outcome = ("error", type(e).__name__, " ".join(str(e).split()) or repr(e))
    Path(result_path).write_bytes(pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:3]))
