"""simcache: a discrete-event simulator of cache systems.

Layers (each uses only the ones above it): ``policies`` -> ``store`` ->
``workloads``/``traces`` -> ``replay``/``mrc``/``theory`` -> ``sim`` ->
``sweeps``.
"""

from __future__ import annotations

from simcache.policies import Policy, PolicyError, make_policy, policy_names, policy_params
from simcache.store import Cache, CacheStats, Entry

__version__ = "0.1.0"

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
]
