"""Compiled engines of system models: array event loops that give the same results as the SimPy components.

``three_tier``: the reference three-tier model (see :mod:`simcache.sim.compiled.three_tier`).
"""

from __future__ import annotations

from simcache.kernels._jit import COMPILED
from simcache.sim.compiled.three_tier import simulate_compiled, unsupported

__all__ = ["COMPILED", "simulate_compiled", "unsupported"]
