"""Eviction and admission policies, registered by name.

Importing this package imports every policy module, each of which registers
its classes with :func:`simcache.policies.base.register`.
"""

from __future__ import annotations

import importlib
import pkgutil

from simcache.policies.base import (
    Policy,
    PolicyError,
    make_policy,
    policy_class,
    policy_names,
    policy_params,
    register,
)

# every module in this package except the base registers its policies
for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Policy", "PolicyError", "make_policy", "policy_class", "policy_names", "policy_params", "register"]
