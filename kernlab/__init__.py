"""kernlab: a hands-on laboratory for lock-free and memory patterns.

    import kernlab
    kernlab.probe()                                   # this machine
    r = kernlab.run("counter", "padded", threads=2)   # one measured point
    print(r.summary())
    kernlab.Panel("counter")                          # widgets in a notebook
"""
__version__ = "0.1.0"


def run(experiment, variant, threads=1, **options):
    """Run one variant of an experiment (by name) at one thread count; see runner.run."""
    from .experiments import get
    from .runner import run as _run
    exp = get(experiment) if isinstance(experiment, str) else experiment
    return _run(exp, variant, threads, **options)


def __getattr__(name):  # keep `import kernlab` light: numba and widgets load on first use
    if name == "Panel":
        from .ui import Panel
        return Panel
    if name == "probe":
        from .machine import probe
        return probe
    if name == "ResultTable":
        from .tables import ResultTable
        return ResultTable
    if name == "experiments":
        from .experiments import all_experiments
        return all_experiments()
    raise AttributeError(f"module 'kernlab' has no attribute {name!r}")
