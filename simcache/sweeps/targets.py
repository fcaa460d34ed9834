"""What a sweep runs: a model from the catalogue, or a trace replay.

Both kinds validate parameter names and values before anything runs and
execute one run as ``execute(params, seed) -> flat dict``.  A model's option
groups (``strategy.ttl``) are parameters with a dotted name, checked against
the options of the strategy each point runs; a sweep's fault schedule is
checked against the components of the model's system before anything runs.  Execution lives in
top-level functions that take only plain data (the model's file path travels
with each task), so a process pool or a remote Dask worker can run them
without the parent's state.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.errors import UsageError

REPLAY = "replay"
#: largest size, object count or request count a replay point may ask for
_MAX_COUNT = 1 << 50


@dataclass(frozen=True)
class ReplayParam:
    """One parameter of the replay target: type, default, allowed values (None: any)."""

    type: Any
    default: Any
    help: str
    allowed: tuple[Any, ...] | None = None


#: parameters of the ``replay`` target
REPLAY_PARAMS: dict[str, ReplayParam] = {
    "trace": ReplayParam(str | None, None, "path of a trace file (relative paths: from the working directory)"),
    "synthetic": ReplayParam(str, "zipf", "synthetic workload kind, used when no trace is given"),
    "alpha": ReplayParam(float, 0.9, "Zipf exponent of the synthetic workload"),
    "objects": ReplayParam(int, 10_000, "distinct objects in the synthetic workload"),
    "requests": ReplayParam(int, 100_000, "requests in the synthetic workload"),
    "policy": ReplayParam(str, "lru", "eviction policy"),
    "size": ReplayParam(int, 1000, "cache size (entries, or bytes with bytes = true)"),
    "bytes": ReplayParam(bool, False, "count capacity in bytes instead of entries"),
    "warmup": ReplayParam(float, 0.0, "fraction in [0, 1) of the first requests replayed before counting"),
    "engine": ReplayParam(str, "auto", "replay engine"),
}


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts with dotted keys: ``{"l1": {"hits": 3}}`` -> ``{"l1.hits": 3}``."""
    out: dict[str, Any] = {}
    for k, v in summary.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class ModelTarget:
    """A model from the catalogue."""

    kind = "model"

    def __init__(self, name: str, where: str) -> None:
        from simcache.catalog import get_model

        try:
            self.spec = get_model(name)
        except UsageError as err:
            raise UsageError(f"{where}: target: {err}; or 'replay'") from None
        self.name = name
        module = sys.modules.get(self.spec.source)
        #: shipped with each task so a worker that never saw SIMCACHE_MODELS_PATH can load the model
        self.model_file: str | None = getattr(module, "__file__", None)

    def param_names(self) -> list[str]:
        return sorted(self.spec.param_types())

    def check_value(self, where: str, key: str, values: Sequence[Any]) -> None:
        from simcache.catalog import convert_value

        types_ = self.spec.param_types()
        group, dot, _ = key.partition(".")
        if dot:
            # the option's name and type depend on the point (its strategy): check_point checks them
            if group not in self.spec.options:
                have = ", ".join(f"{g}.NAME" for g in self.spec.options) or "none"
                raise UsageError(f"{where}: model {self.name!r} has no option group {group!r} (in {key!r}); "
                                 f"option groups: {have}")
            return
        if key not in types_:
            raise UsageError(
                f"{where}: unknown parameter {key!r} of model {self.name!r}; valid parameters: {', '.join(sorted(types_))}"
            )
        for i, v in enumerate(values):
            try:
                convert_value(self.name, key, types_[key], v)
            except UsageError as err:
                suffix = f"[{i}]" if len(values) > 1 else ""
                raise UsageError(f"{where}{suffix}: {err}") from None

    def check_point(self, where: str, point: Mapping[str, Any]) -> None:
        try:
            plain, options = self.spec.split(point)
            params = self.spec.make_params(plain)
            for group, values in options.items():
                check_options(self.name, group, params, values)
        except UsageError as err:
            raise UsageError(f"{where}: {err}") from None

    def check_faults(self, where: str, faults: Sequence[Any], points: Sequence[Mapping[str, Any]]) -> None:
        """The model takes faults, each starts before the run ends, and each target exists in its system."""
        from simcache.sim import faults as faults_mod

        if not self.spec.faults:
            raise UsageError(f"{where}: model {self.name!r} takes no fault schedule")
        for point in points:
            params = self.spec.make_params(self.spec.split(point)[0])
            duration = getattr(params, "duration", None)
            for i, f in enumerate(faults):
                if duration is not None and f.at >= duration:
                    raise UsageError(f"{where}[{i}] ({f}): starts at {f.at:g} s, not before the end of the run "
                                     f"(duration {duration:g} s)")
        # the targets: build the first point's system (building runs nothing) and look each one up
        build = getattr(sys.modules.get(self.spec.source), "build", None)
        if build is None or not points:
            return
        params = self.spec.make_params(self.spec.split(points[0])[0])
        system = build(params, 0)
        world = getattr(system, "world", None)
        if world is None:
            return
        for i, f in enumerate(faults):
            try:
                faults_mod.check(world, f)
            except UsageError as err:
                raise UsageError(f"{where}[{i}]: {err}") from None  # the message names the fault line


class ReplayTarget:
    """Trace replay through one policy at one size per run."""

    kind = REPLAY
    name = REPLAY
    model_file = None

    def __init__(self, where: str) -> None:
        try:
            import simcache.replay  # noqa: F401
        except ImportError as err:
            raise UsageError(f"{where}: target: the replay engine is not available in this build ({err})") from None

    def param_names(self) -> list[str]:
        return sorted(REPLAY_PARAMS)

    def allowed(self, key: str) -> tuple[Any, ...] | None:
        if key == "policy":
            from simcache.policies import policy_names

            return tuple(policy_names())
        if key == "engine":
            import simcache.replay as rp

            engines = getattr(rp, "ENGINES", None)
            return tuple(engines) if engines else None
        if key == "synthetic":
            try:
                import simcache.workloads as wl
            except ImportError:
                return None
            kinds = getattr(wl, "WORKLOAD_KINDS", None) or getattr(wl, "KINDS", None)
            return tuple(kinds) if kinds else None
        return REPLAY_PARAMS[key].allowed

    def check_value(self, where: str, key: str, values: Sequence[Any]) -> None:
        from simcache.catalog import convert_value

        if key not in REPLAY_PARAMS:
            raise UsageError(f"{where}: unknown replay parameter {key!r}; valid parameters: {', '.join(sorted(REPLAY_PARAMS))}")
        spec = REPLAY_PARAMS[key]
        allowed = self.allowed(key)
        for i, raw in enumerate(values):
            suffix = f"[{i}]" if len(values) > 1 else ""
            try:
                v = convert_value(REPLAY, key, spec.type, raw)  # the range checks below see the converted value
            except UsageError as err:
                raise UsageError(f"{where}{suffix}: {err}") from None
            if allowed is not None and v not in allowed:
                raise UsageError(f"{where}{suffix}: {key} must be one of {', '.join(map(str, allowed))}, got {v!r}")
            if key in ("size", "objects", "requests") and not 1 <= v <= _MAX_COUNT:
                raise UsageError(f"{where}{suffix}: {key} must be in [1, 2**50], got {v!r}")
            if key == "warmup" and not 0 <= v < 1:
                raise UsageError(f"{where}{suffix}: warmup must be a fraction in [0, 1), got {v!r}")
            if key == "trace" and v is not None:
                from simcache.errors import SimcacheError
                from simcache.traces import open_trace

                try:
                    open_trace(v)  # opening reads only the head: a missing, unreadable or unknown file fails now
                except SimcacheError as err:
                    raise UsageError(f"{where}{suffix}: {err}") from None

    def check_faults(self, where: str, faults: Sequence[Any], points: Sequence[Mapping[str, Any]]) -> None:
        raise UsageError(f"{where}: a trace replay takes no fault schedule; faults apply to system models")

    def metric_names(self) -> set[str]:
        """What every replay run reports (the numeric fields of a replay result)."""
        from dataclasses import fields

        from simcache.replay import ReplayResult

        return {f.name for f in fields(ReplayResult)} - {"params"}

    def check_point(self, where: str, point: Mapping[str, Any]) -> None:
        p = replay_params(point)
        if p["bytes"] and p["trace"] is None:
            raise UsageError(f"{where}: bytes = true needs a trace with object sizes; the synthetic workloads "
                             f"of a sweep have none (unit sizes)")
        if p["trace"] is None:
            try:
                from simcache.workloads import WorkloadSpec

                WorkloadSpec(kind=p["synthetic"], alpha=p["alpha"], n_objects=p["objects"])
            except (ImportError, TypeError):
                pass
            except (UsageError, ValueError) as err:
                raise UsageError(f"{where}: {err}") from None


def replay_params(point: Mapping[str, Any]) -> dict[str, Any]:
    """The point's replay parameters with defaults filled in and types converted."""
    from simcache.catalog import convert_value

    out = {k: p.default for k, p in REPLAY_PARAMS.items()}
    for k, v in point.items():
        out[k] = convert_value(REPLAY, k, REPLAY_PARAMS[k].type, v)
    return out


def check_options(model: str, group: str, params: Any, values: Mapping[str, Any]) -> None:
    """Check a point's options of one group (``strategy``: the options of the point's strategy class).

    Names must be options of the strategy the point runs, and values must convert to the option's type
    (and pass the strategy's own ``check_option``), as :func:`simcache.sim.strategies.make_strategy` will
    require when the run starts.
    """
    if group != "strategy":
        return  # only strategies declare their options; the model checks other groups when it runs
    from simcache.sim.strategies import strategy_class, strategy_options

    spec = getattr(params, "strategy", None)
    if spec is None:
        raise UsageError(f"model {model!r} has a strategy option group but no strategy parameter")
    cls = strategy_class(spec)
    valid = strategy_options(cls)
    name = spec if isinstance(spec, str) else cls.__name__
    for k, v in values.items():
        if k not in valid:
            raise UsageError(f"strategy {name!r} has no option {k!r}; options: {', '.join(sorted(valid)) or 'none'}")
        default = valid[k]
        kind = typing.get_type_hints(cls).get(k, type(default))
        if kind is bool or isinstance(default, bool):
            ok = isinstance(v, bool) or str(v).lower() in ("0", "1", "true", "false", "yes", "no", "on", "off")
            what = "boolean"
        elif kind in (int, float):
            what = "number" if kind is float else "integer"
            if isinstance(v, bool):
                ok = False
            elif isinstance(v, int | float):
                ok = kind is float or float(v).is_integer()
            else:
                try:
                    v = float(v) if kind is float else int(v)
                    ok = True
                except (TypeError, ValueError):
                    ok = False
        else:
            ok, what = True, ""
        if not ok:
            raise UsageError(f"strategy {name!r} option {k!r}: expected a {what}, got {values[k]!r}")
        check = getattr(cls, "check_option", None)
        if check is not None:
            # check_option validates a value without touching the strategy's state: an unbuilt instance will do
            check(object.__new__(cls), k, v)


def resolve_target(name: str, where: str = "<sweep>") -> ModelTarget | ReplayTarget:
    """The target named ``name`` (``"replay"`` or a model); unknown names list the valid ones."""
    if name == REPLAY:
        return ReplayTarget(where)
    return ModelTarget(name, where)


# ----------------------------------------------------------------- execution
def _ensure_model(name: str, model_file: str | None) -> None:
    """Make model ``name`` importable here, loading its file directly when the catalogue lacks it."""
    from simcache.catalog import load_models

    models = load_models()
    if name in models or not model_file:
        return
    modname = f"simcache_models.{Path(model_file).stem}"
    if "simcache_models" not in sys.modules:
        pkg = types.ModuleType("simcache_models")
        pkg.__path__ = []
        sys.modules["simcache_models"] = pkg
    spec = importlib.util.spec_from_file_location(modname, model_file)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load model file {model_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)


def execute(target: str, model_file: str | None, params: Mapping[str, Any], seed: int,
            faults: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Run one point of ``target`` with ``seed`` (and the sweep's fault schedule) and return its flat summary."""
    if target == REPLAY:
        return flatten(_execute_replay(params, seed))
    from simcache.catalog import run_model

    _ensure_model(target, model_file)
    summary = dict(run_model(target, params, seed, faults=list(faults)))
    applied = summary.get("faults")
    if isinstance(applied, list):
        # one text column, the same lines as --fault, rather than a list the table cannot hold
        from simcache.sim.faults import faults_of

        summary["faults"] = ", ".join(str(f) for f in faults_of(applied))
    return flatten(summary)


def _execute_replay(point: Mapping[str, Any], seed: int) -> dict[str, Any]:
    from simcache.replay import replay

    p = replay_params(point)
    source: Any
    if p["trace"] is not None:
        from simcache.traces import open_trace

        source = open_trace(p["trace"])
    else:
        from simcache.workloads import SyntheticTrace, WorkloadSpec

        source = SyntheticTrace(WorkloadSpec(kind=p["synthetic"], alpha=p["alpha"], n_objects=p["objects"]),
                                p["requests"], seed)
    results = replay(source, [p["policy"]], [p["size"]], bytes_mode=p["bytes"], warmup=p["warmup"],
                     engine=p["engine"], seed=seed)
    if len(results) != 1:
        raise RuntimeError(f"replay returned {len(results)} results for one policy and one size")
    summary = dict(results[0].as_dict())
    return summary

