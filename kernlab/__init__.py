"""kernlab: a hands-on laboratory for lock-free and memory patterns.

    import kernlab
    kernlab.probe()                                   # this machine
    r = kernlab.run("counter", "padded", threads=2)   # one measured point
    print(r.summary())
    kernlab.Panel("counter")                          # widgets in a notebook
    t = kernlab.sweep("counter", ["atomic", "padded"], [1, 2])
    kernlab.plots.throughput_figure(t)
    print(kernlab.judge("cache-line-alignment", t))

Everything a notebook or a user needs is here (``__all__``); the modules behind it are
internal and may move. (Function names avoid the names of kernlab's own modules:
importing a submodule sets an attribute of that name on the package.) Names load on
first use, so ``import kernlab`` stays light (numba and the widgets load when something needs them).
"""
from importlib import import_module

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None means the module itself
_EXPORTS = {
    "Panel": ("ui", "Panel"),
    "joint_view": ("views", "joint_view"),
    "facts_table": ("controls", "facts_table"),
    "ResultTable": ("tables", "ResultTable"),
    "ResultsFileError": ("tables", "ResultsFileError"),
    "ParamError": ("declaration", "ParamError"),
    "available_allocators": ("experiments._alloc_support", "available_allocators"),
    "missing_allocators": ("experiments._alloc_support", "missing_allocators"),
    "aba_replay": ("primitives.pool", "replay_aba"),
    "RunResult": ("results", "RunResult"),
    "Cancelled": ("runner", "Cancelled"),
    "probe": ("machine", "probe"),
    "usable_cores": ("machine", "usable_cores"),
    "cache_line_size": ("layout", "cache_line_size"),
    "judge": ("claims", "judge"),
    "all_claims": ("claims", "all_claims"),
    "ShardManager": ("primitives.shard_manager", "ShardManager"),
    "work_ns_per_round": ("primitives.locks", "work_ns_per_round"),
    "plots": ("plots", None),
    "compiled_code": ("codeview", "compiled_code"),
    "cpu_topology": ("machine", "cpu_topology"),
    "c2c_matrix": ("experiments.c2c", "c2c_matrix"),
    "measure_ladder": ("experiments.cost_ladder", "measure_ladder"),
    "ladder_costs": ("experiments.cost_ladder", "ladder_costs"),
    "reorder_summary": ("experiments.litmus", "reorder_summary"),
    "ns_per_record": ("experiments.prefetch", "ns_per_record"),
    "numpy_sum_bytes_per_s": ("experiments.prefetch", "numpy_sum_bytes_per_s"),
    "reference": ("workspace", "reference"),
    "reference_files": ("workspace", "reference_files"),
    "reference_table": ("workspace", "reference_table"),
}

__all__ = sorted(["run", "sweep", "experiment", "all_experiments", "load", *_EXPORTS])


def experiment(name):
    """The declaration of one experiment, by name (its params, variants, help)."""
    from .experiments import get
    return get(name) if isinstance(name, str) else name


def all_experiments() -> dict:
    """Every registered experiment, by name."""
    from .experiments import all_experiments
    return all_experiments()


def run(experiment_name, variant, threads=1, **options):
    """Run one variant of an experiment at one thread count: warm-up, then ``repeats``
    trials; see ``kernlab.runner.run`` for the options (duration, repeats, params, pin...)."""
    from .runner import run as _run
    return _run(experiment(experiment_name), variant, threads, **options)


def sweep(experiment_name, variants, threads, **options):
    """Run variants x thread counts (x one parameter's values: ``sweep_param``,
    ``sweep_values``) and return a ResultTable; see ``kernlab.sweeps.sweep``."""
    from .sweeps import sweep as _sweep
    exp = experiment(experiment_name)
    return _sweep(exp, list(variants), list(threads), **options)


def load(path):
    """A results file (CSV or JSON, from this machine or another) as a ResultTable."""
    from .tables import ResultTable
    return ResultTable.load(path)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kernlab' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    mod = import_module(f".{module}", __name__)
    return mod if attr is None else getattr(mod, attr)


def __dir__():
    return __all__
