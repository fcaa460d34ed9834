"""simcache: a discrete-event simulator of cache systems.

The main entry points, importable from here::

    from simcache import replay_frame, exact_lru_mrc, che_hit_ratio, run_model, run_model_full, run_sweep, Cache

(``simcache.replay`` stays the module: ``from simcache.replay import replay`` returns result lists with
``.to_frame()``; ``replay_frame`` is the same call returning the DataFrame.)

Layers (each uses only the ones above it): ``policies`` -> ``store`` ->
``workloads``/``traces`` -> ``replay``/``mrc``/``theory`` -> ``sim`` ->
``sweeps``.  Heavier parts (the SimPy world, sweeps, figures) load on first use.
"""

from __future__ import annotations

from typing import Any

from simcache.policies import Policy, PolicyError, make_policy, policy_names, policy_params
from simcache.store import Cache, CacheStats, Entry

__version__ = "0.1.0"

#: name -> module of the entry points loaded on first use (keeps ``import simcache`` light)
_LAZY = {
    "replay_frame": "simcache.replay",
    "ReplayResult": "simcache.replay",
    "ReplayResults": "simcache.replay",
    "source_from_args": "simcache.replay",
    "SyntheticTrace": "simcache.workloads",
    "WorkloadSpec": "simcache.workloads",
    "zipf_pmf": "simcache.workloads",
    "open_trace": "simcache.traces",
    "exact_lru_mrc": "simcache.mrc",
    "shards_mrc": "simcache.mrc",
    "che_hit_ratio": "simcache.theory",
    "run_model": "simcache.catalog",
    "model_names": "simcache.catalog",
    "run_model_full": "simcache.sim.report",
    "SimResult": "simcache.sim.report",
    "run_sweep": "simcache.sweeps",
    "run_experiment": "simcache.sweeps",
    "sweep": "simcache.sweeps",
    "load_sweep": "simcache.sweeps.spec",
}

__all__ = [
    "Cache",
    "CacheStats",
    "Entry",
    "Policy",
    "PolicyError",
    "__version__",
    "make_policy",
    "policy_names",
    "policy_params",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'simcache' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
