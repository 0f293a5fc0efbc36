"""Shared fixtures. Tiers are markers (registered in pyproject.toml, --strict-markers):
``stress`` tests run real threads against a self-check (short, part of every run);
``soak`` tests are long and skipped unless pytest gets ``--soak`` (``make soak``)."""
import threading

import pytest


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true", help="run the long stress tier (tests marked soak)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak tier: run with --soak (make soak)")
    for item in items:
        if item.get_closest_marker("soak") is not None:
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


@pytest.fixture(scope="session")
def claim_row():
    """A results-table row as a claim's judge reads it: ``claim_row(exp, variant,
    threads, ops_per_sec, **params)``."""
    def row(exp, variant, threads, rate, **params):
        r = {"experiment": exp, "variant": variant, "threads": threads, "ops_per_sec": rate,
             "oversubscribed": threads > 2, "broken": False}
        r.update({f"param_{k}": v for k, v in params.items()})
        return r
    return row


def _caught(run_once, attempts: int, what: str):
    """Run ``run_once()`` (one trial of a broken variant) up to ``attempts`` times and
    return the first trial whose check failed; if none did, fail the test saying that
    ``what`` went unnoticed (with every trial's check text)."""
    details = []
    for _ in range(attempts):
        trial = run_once()
        if not trial.check.passed:
            return trial
        details.append(trial.check.detail)
    pytest.fail(f"{what} went unnoticed in {attempts} runs: {details}")


@pytest.fixture(scope="session")
def caught():
    """``caught(run_once, attempts, what)``: a broken teaching variant must be caught."""
    return _caught
