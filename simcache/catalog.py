"""The model catalogue: ready-made systems and scenarios, run by name.

A model is a function ``run(params, seed) -> summary`` plus a frozen
dataclass of its parameters (with defaults and validation) and a one-line
description.  Model files live in the project's top-level ``models/`` folder
(or any folder named by ``SIMCACHE_MODELS_PATH``, ``os.pathsep``-separated)
and register themselves with :func:`model`::

    @dataclass(frozen=True)
    class MM1Params:
        arrival_rate: float = 0.8
        service_rate: float = 1.0
        duration: float = 10_000.0

    @model("mm1", "M/M/1 queue, for validation against 1/(mu - lambda)", MM1Params)
    def run(p: MM1Params, seed: int) -> dict[str, Any]:
        ...
        return {"sim_requests": n, "mean_response": ..., ...}

The summary is a flat JSON-able dict of numbers and strings; nested dicts are
allowed for per-tier or per-component breakdowns.  Running the same model
with the same parameters and seed gives the same summary.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import math
import os
import sys
import time
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.errors import UsageError
from simcache.shipped import shipped_dir

RunFn = Callable[[Any, int], dict[str, Any]]


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: name, description, parameter class, run function."""

    name: str
    description: str
    params: type
    run: RunFn
    source: str = ""
    #: option groups set with dotted names (``strategy.ttl=60`` -> options["strategy"]["ttl"])
    options: tuple[str, ...] = ()
    #: whether ``run`` takes a fault schedule
    faults: bool = False

    def defaults(self) -> dict[str, Any]:
        return {f.name: _default_of(f) for f in dataclasses.fields(self.params)}

    def param_types(self) -> dict[str, Any]:
        hints = typing.get_type_hints(self.params)
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(self.params)}

    def split(self, values: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Separate plain parameters from dotted option names (``strategy.ttl``); unknown groups raise."""
        plain: dict[str, Any] = {}
        opts: dict[str, dict[str, Any]] = {}
        for k, v in (values or {}).items():
            group, dot, name = str(k).partition(".")
            if not dot:
                plain[k] = v
                continue
            if group not in self.options or not name:
                have = ", ".join(f"{g}.NAME" for g in self.options) or "none"
                raise UsageError(f"model {self.name!r} has no option group {group!r} (in {k!r}); option groups: {have}")
            opts.setdefault(group, {})[name] = v
        return plain, opts

    def make_params(self, values: Mapping[str, Any] | None = None) -> Any:
        """Build the parameter dataclass, converting strings and naming bad keys."""
        values = dict(values or {})
        valid = self.param_types()
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise UsageError(
                f"model {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"valid parameters: {', '.join(sorted(valid))}"
            )
        converted = {k: convert_value(self.name, k, valid[k], v) for k, v in values.items()}
        try:
            return self.params(**converted)
        except (TypeError, ValueError) as err:
            raise UsageError(f"model {self.name!r}: {err}") from None


_MODELS: dict[str, ModelSpec] = {}
_LOADED = False


def model(name: str, description: str, params: type, options: tuple[str, ...] = ()) -> Callable[[RunFn], RunFn]:
    """Decorator: register ``run(params, seed) -> summary`` as model ``name``.

    A model that takes option groups (``options=("strategy",)``) or a fault schedule declares
    ``run(params, seed, options=None, faults=None)``; dotted parameters (``strategy.ttl=60``)
    reach it in ``options`` and fault lines in ``faults``.
    """
    if not dataclasses.is_dataclass(params):
        raise TypeError(f"model {name!r}: params must be a dataclass, got {params!r}")

    def deco(fn: RunFn) -> RunFn:
        if name in _MODELS and _MODELS[name].run.__qualname__ != fn.__qualname__:
            raise UsageError(f"duplicate model name {name!r} ({_MODELS[name].source} and {fn.__module__})")
        takes = inspect.signature(fn).parameters
        _MODELS[name] = ModelSpec(name, description, params, fn, source=fn.__module__, options=tuple(options),
                                  faults="faults" in takes)
        return fn

    return deco


def model_dirs() -> list[Path]:
    """Folders searched for model files: SIMCACHE_MODELS_PATH, then the project's models/."""
    dirs = [Path(p) for p in os.environ.get("SIMCACHE_MODELS_PATH", "").split(os.pathsep) if p]
    dirs.append(shipped_dir("models"))
    return [d for d in dirs if d.is_dir()]


def import_files(dirs: list[Path], package: str, force: bool = False) -> None:
    """Import every ``*.py`` file of ``dirs`` (not ``_*``) as a module of the namespace ``package``, once each
    (again with ``force``); the files register themselves (``@model``, ``@scenario``) as they are imported."""
    for d in dirs:
        for path in sorted(d.glob("*.py")):
            if path.name.startswith("_"):
                continue
            modname = f"{package}.{path.stem}"
            if modname in sys.modules and not force:
                continue
            if package not in sys.modules:
                pkg = types.ModuleType(package)
                pkg.__path__ = []
                sys.modules[package] = pkg
            spec = importlib.util.spec_from_file_location(modname, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module
            spec.loader.exec_module(module)


def load_models(force: bool = False) -> dict[str, ModelSpec]:
    """Import every ``*.py`` file in the model folders (once) and return the catalogue."""
    global _LOADED
    if _LOADED and not force:
        return _MODELS
    import_files(model_dirs(), "simcache_models", force)
    _LOADED = True
    return _MODELS


def model_names() -> list[str]:
    return sorted(load_models())


def get_model(name: str) -> ModelSpec:
    """The model registered as ``name``; unknown names raise with the valid list."""
    models = load_models()
    if name not in models:
        raise UsageError(f"unknown model {name!r}; valid models: {', '.join(sorted(models)) or 'none found'}")
    return models[name]


def call_model(spec: ModelSpec, params: Mapping[str, Any] | None, seed: int, faults: Any = ()) -> Any:
    """Validate ``params`` (plain and dotted) and ``faults`` for ``spec`` and call its run function."""
    plain, opts = spec.split(params)
    p = spec.make_params(plain)
    faults = list(faults or ())
    if faults and not spec.faults:
        raise UsageError(f"model {spec.name!r} takes no fault schedule")
    kw: dict[str, Any] = {}
    if spec.options:
        kw["options"] = opts
    if spec.faults:
        kw["faults"] = faults
    return spec.run(p, int(seed), **kw)


def run_model(name: str, params: Mapping[str, Any] | None = None, seed: int = 0,
              faults: Any = ()) -> dict[str, Any]:
    """Run a model by name and return its summary, with ``wall_seconds`` added.

    Args:
        name: a model in the catalogue.
        params: parameter values (strings are converted); ``group.name`` keys set options.
        seed: the run's seed.
        faults: fault lines (``crash:redis@10+5``) or mappings, for models that take them.
    """
    spec = get_model(name)
    t0 = time.perf_counter()
    summary = call_model(spec, params, seed, faults)
    summary = dict(summary)
    summary.setdefault("model", name)
    summary.setdefault("seed", int(seed))
    summary["wall_seconds"] = time.perf_counter() - t0
    return summary


def convert_value(owner: str, key: str, typ: Any, value: Any) -> Any:
    """Convert ``value`` (often a command-line string) to the declared type of ``key``."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        if len(non_none) == 1:
            return convert_value(owner, key, non_none[0], value)
        return value
    if origin is typing.Literal:
        allowed = list(args)
        if value not in allowed:
            # command-line strings for numeric literals
            for a in allowed:
                if str(a) == str(value):
                    return a
            raise UsageError(f"{owner}: {key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if not isinstance(value, str) or typ is str or typ is Any:
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if typ in (int, float, bool, str) and not isinstance(value, typ):
            raise UsageError(f"{owner}: {key} expects {typ.__name__}, got {value!r}")
        if typ is float and not math.isfinite(value):
            raise UsageError(f"{owner}: {key} expects a finite number, got {value!r}")
        return value
    try:
        if typ is bool:
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ is int:
            return int(float(value)) if float(value).is_integer() else int(value)
        if typ is float:
            f = float(value)
            if not math.isfinite(f):
                raise UsageError(f"{owner}: {key} expects a finite number, got {value!r}")
            return f
        if origin in (tuple, list):
            parts = [x for x in value.split(",") if x]
            inner = args[0] if args else str
            return origin(convert_value(owner, key, inner, x) for x in parts)
    except ValueError:
        name = getattr(typ, "__name__", str(typ))
        raise UsageError(f"{owner}: {key} expects {name}, got {value!r}") from None
    return value


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
