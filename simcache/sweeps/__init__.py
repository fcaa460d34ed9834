"""Sweeps: a declarative grid × replications over a model or a replay, run serially, on a local process
pool or on a Dask cluster, resumable, ending in a tidy table, a mean ± 95% CI summary and figures.

>>> from simcache.sweeps import run_sweep
>>> result = run_sweep("experiments/smoke.toml", executor="local", out="results/smoke")  # doctest: +SKIP
>>> result.summary  # one row per point and metric  # doctest: +SKIP

Names are imported lazily so that pool and Dask workers, which only need
:func:`run_task`, do not pay for pandas and scipy at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "mean_ci": "aggregate", "runs_table": "aggregate", "summarize": "aggregate",
    "EXECUTORS": "executors", "make_executor": "executors", "run_task": "executors",
    "SweepResult": "run", "load_results": "run", "run_sweep": "run", "tasks_for": "run",
    "run_experiment": "run", "experiment_path": "run",
    "run_seed": "seeds", "seed_table": "seeds",
    "FigureSpec": "spec", "SweepSpec": "spec", "load_sweep": "spec", "sweep": "spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simcache.sweeps' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simcache.sweeps.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
