import os
import threading

import pytest

# Notebooks executed by nbmake read these in their parameters cell: keep them short.
os.environ.setdefault("KERNLAB_NB_DURATION", "0.05")
os.environ.setdefault("KERNLAB_NB_REPEATS", "1")


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true", help="run the long stress tier")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak tier: run with --soak (make soak)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def no_worker_threads_left():
    """Asserts after the test that every kernlab worker thread has ended."""
    yield
    alive = [t.name for t in threading.enumerate() if t.name.startswith("kernlab-") and t.name != "kernlab-panel"]
    assert not alive, f"worker threads still alive: {alive}"


@pytest.fixture(scope="session")
def counter():
    from kernlab.experiments import get
    return get("counter")
