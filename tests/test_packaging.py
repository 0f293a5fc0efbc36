"""kernlab installed from its wheel, outside any checkout: notebooks and reference data
travel inside it, `kernlab notebooks` gives a workspace, `kernlab lab --dir` serves it."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tomllib

import kernlab
from kernlab import workspace as W

ROOT = Path(kernlab.__file__).resolve().parent.parent


def test_every_kernlab_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kernlab").rglob("__init__.py")}
    assert on_disk <= listed and {"kernlab.notebooks", "kernlab.data"} <= listed


def test_reference_data_is_found_through_the_package():
    names = W.reference_files("bench-")
    assert names and all(n.endswith(".json") for n in names)
    record = kernlab.reference(names[0])
    assert {"machine", "command", "figures"} <= set(record)
    with pytest.raises(FileNotFoundError):
        kernlab.reference("no-such-file.json")


def test_copying_notebooks_never_overwrites_a_users_changes(tmp_path):
    ws = tmp_path / "ws"
    first = W.copy_notebooks(ws)
    shipped = [p.name for p in W.shipped_notebooks()]
    assert first.copied == shipped and (ws / W.MANIFEST).exists()
    assert W.copy_notebooks(ws).unchanged == shipped                  # a second copy changes nothing

    mine, old = ws / shipped[0], ws / shipped[1]
    mine.write_text(mine.read_text() + " ")                             # the user edits one notebook
    old.write_text('{"cells": []}')                                     # an older shipped version of another:
    manifest = json.loads((ws / W.MANIFEST).read_text())               # the manifest says we wrote it
    manifest[old.name] = W._digest(old.read_bytes())
    (ws / W.MANIFEST).write_text(json.dumps(manifest))

    report = W.copy_notebooks(ws)
    assert report.kept == [mine.name] and report.outdated == [old.name]
    assert mine.read_text().endswith(" ") and old.read_text() == '{"cells": []}'
    report = W.copy_notebooks(ws, update=True)
    assert report.kept == [mine.name] and report.updated == [old.name]
    assert mine.read_text().endswith(" ") and old.read_bytes() == W.shipped_notebooks()[1].read_bytes()


def test_lab_opens_the_checkouts_notebooks_or_a_workspace(tmp_path):
    assert W.lab_folder() == ROOT / "notebooks"                         # this is a checkout
    ws = W.lab_folder(tmp_path / "fresh")
    assert ws == tmp_path / "fresh" and (ws / "00-start-here.ipynb").exists()


def _borrowing_venv(folder: Path) -> Path:
    """A fresh venv whose site-packages also sees the dev venv's (numba, jupyter, ... : no
    download), through a .pth line: a path added that way has its own .pth files ignored,
    so the dev venv's editable kernlab stays invisible and only the wheel's is found."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dev_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "numba").exists())
    Path(site, "borrowed.pth").write_text(dev_site + "\n")
    return python


@pytest.mark.stress
def test_the_wheel_works_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("kernlab-*.whl"))
    python = _borrowing_venv(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env.update(KERNLAB_NB_DURATION="0.05", KERNLAB_NB_REPEATS="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), HOME=str(tmp_path / "home"))

    def cli(*args, timeout=300):
        return subprocess.run([str(python), "-m", "kernlab.cli", *args], cwd=away, env=env, text=True,
                              capture_output=True, timeout=timeout)

    where = subprocess.run([str(python), "-c", "import kernlab; print(kernlab.__file__)"], cwd=away, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "venv") in where                              # the wheel's kernlab, not the checkout's
    assert "counter" in cli("list").stdout
    run = cli("run", "counter", "--variant", "atomic", "--threads", "1", "--duration", "0.05")
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    shipped = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    copied = cli("notebooks", "ws")
    assert copied.returncode == 0 and f"{len(shipped)} copied" in copied.stdout, copied.stdout + copied.stderr
    assert sorted(p.name for p in (away / "ws").glob("*.ipynb")) == shipped
    for name in ("00-start-here.ipynb", "01-atomics-and-false-sharing.ipynb"):
        done = subprocess.run([str(python), "-m", "nbconvert", "--to", "notebook", "--execute",
                               "--output", f"ran-{name}", str(away / "ws" / name)], cwd=away, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = subprocess.Popen([str(python), "-m", "kernlab.cli", "lab", "--no-browser", "--dir", "ws", "--port",
                            str(port)], cwd=away, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = None, time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            m = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", lab.stdout.readline())
            url = m and m.group(1)
        assert url, "JupyterLab did not print its tokenized URL"
        for _ in range(40):                     # the server may print its URL a moment before it answers
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=10)
                pytest.fail("JupyterLab answered without its token")
            except urllib.error.HTTPError as denied:
                assert denied.code == 403
                break
            except urllib.error.URLError:
                time.sleep(0.5)
        for _ in range(40):
            try:
                listing = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={url}",
                                                           timeout=10))
                break
            except urllib.error.URLError:
                time.sleep(0.5)
        assert "00-start-here.ipynb" in {item["name"] for item in listing["content"]}
    finally:
        lab.terminate()
        lab.wait(20)


def test_a_file_is_no_workspace(tmp_path, capsys):
    from kernlab.cli import main
    (tmp_path / "f").write_text("x")
    assert main(["notebooks", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kernlab: error:") and "\n" not in err


def test_the_install_step_keeps_notebook_outputs_out_of_git():
    """make install sets nbstripout up as a git filter: outputs saved while working in the
    lab stay in the notebook files but never show up as changes to commit."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    attr = subprocess.run(["git", "check-attr", "filter", "notebooks/00-start-here.ipynb"], cwd=root,
                          capture_output=True, text=True).stdout
    clean = subprocess.run(["git", "config", "--get", "filter.nbstripout.clean"], cwd=root,
                           capture_output=True, text=True).stdout
    assert attr.strip().endswith("nbstripout") and "nbstripout" in clean, "run `make install` (it sets the filter up)"


def test_committed_notebooks_are_what_the_filter_would_commit():
    """A fresh clone stays clean after `make install`: every committed notebook is already
    in nbstripout's form (no outputs, cell ids numbered as it numbers them), so the
    filter finds nothing to change. A notebook edited by a script that writes random cell
    ids fails here: run `nbstripout notebooks/*.ipynb` before committing."""
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    verify = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", *notebooks],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
