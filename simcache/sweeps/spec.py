"""Sweep definitions: a target, base parameters, a grid, replications and one root seed.

A sweep is data.  In a TOML file under ``experiments/``::

    name = "mm1-load"
    target = "mm1"                 # a model from models/, or "replay"
    replications = 5
    seed = 20240601                # the root seed; every run's seed derives from it

    [base]                         # parameters shared by every point
    duration = 5000.0

    [grid]                         # axes crossed with each other (last varies fastest)
    arrival_rate = { start = 0.1, stop = 0.9, step = 0.2 }
    service_rate = [1.0, 2.0]

    [[zip]]                        # axes that move together (equal lengths)
    size = [100, 1000]
    warmup = [0.0, 0.1]

    [[faults]]                     # applied to every run (models that take a fault schedule)
    kind = "crash"                 # the fields of a --fault line KIND:TARGET[=VALUE]@AT[+DURATION]
    target = "redis"
    at = 10.0
    duration = 5.0

    [[figures]]
    kind = "line"                  # line | bars | mrc
    x = "arrival_rate"
    y = "mean_response"
    hue = "service_rate"

Option groups of a model (``strategy.ttl``) are parameters with a dotted
name, in ``base``, ``grid`` or ``zip`` alike: ``"strategy.ttl" = [60, 300]``
(or, unquoted, ``strategy.ttl = [60, 300]``, which TOML reads as a nested
table and the sweep flattens back).

The same object is built in Python with :meth:`SweepSpec.from_dict` or
:func:`sweep`.  Structural checks happen in ``__post_init__``; checks against
the target (parameter names, value types, the target's own validation) happen
in :meth:`SweepSpec.validate`, before anything runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import stat
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simcache.errors import UsageError, show_path

#: keys allowed at the top level of a sweep file
TOP_KEYS = (
    "name", "description", "target", "replications", "seed", "common_random_numbers",
    "base", "grid", "zip", "faults", "metrics", "figures", "quick",
)
#: figure kinds a sweep can name (drawn from the aggregated table)
FIGURE_KINDS = ("line", "bars", "mrc")
FIGURE_KEYS = ("name", "kind", "x", "y", "hue", "logx", "logy", "title")
RANGE_KEYS = ("start", "stop", "step", "num", "log")
#: runs (points x replications) a sweep may have unless told otherwise (``simcache sweep --max-runs N``,
#: ``SweepSpec.validate(max_runs=N)``): checked from the axis lengths, before any point is built
MAX_RUNS = 100_000
#: longest sweep or figure name (it becomes a folder or file name)
MAX_NAME = 100
#: largest sweep file read (a sweep is a page of TOML, not a data file)
MAX_FILE_BYTES = 1 << 20


def check_name(where: str, key: str, value: Any) -> str:
    """A sweep or figure name, used as a file or folder name: 1 to 100 characters, no path separator,
    no ``..``, no leading dot, no control character (NUL, newline)."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: {key}: expected a non-empty name, got {value!r}")
    bad = [c for c in value if ord(c) < 32 or ord(c) == 127 or c in "/\\"]
    if bad or ".." in value or value.startswith(".") or len(value) > MAX_NAME:
        why = (f"{len(value)} characters, at most {MAX_NAME}" if len(value) > MAX_NAME else
               f"holds {bad[0]!r}" if bad else "a name may not start with '.' or hold '..'")
        raise UsageError(f"{where}: {key}: expected a plain file name (no '/', '\\', '..' or control characters), "
                         f"got {value[:40]!r}{'...' if len(value) > 40 else ''}: {why}")
    return value


def _where(source: str) -> str:
    return source or "<sweep>"


def _flatten_options(where: str, table: str, data: Mapping[str, Any], axes: bool) -> dict[str, Any]:
    """Turn nested tables (``strategy.ttl = 60`` read by TOML as ``{"strategy": {"ttl": 60}}``) into dotted keys.

    In an axis table (``axes``) a nested table made only of range keys stays a range.
    """
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, Mapping) and not (axes and v and set(v) <= set(RANGE_KEYS)):
            if not v:
                raise UsageError(f"{where}: {table}.{k}: an empty table")
            for sub, x in _flatten_options(where, f"{table}.{k}", v, axes).items():
                out[f"{k}.{sub}"] = x
        else:
            out[k] = v
    return out


def _faults(where: str, raw: Any) -> tuple[Any, ...]:
    """The ``[[faults]]`` tables (or fault lines) of a sweep, each checked on its own."""
    from simcache.sim.faults import fault_from_mapping, parse_fault

    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise UsageError(f"{where}: faults: expected [[faults]] tables (kind, target, at, duration, value) "
                         f"or a list of fault lines such as 'crash:redis@10+5'")
    out = []
    for i, f in enumerate(raw):
        if isinstance(f, str):
            try:
                out.append(parse_fault(f))
            except UsageError as err:
                raise UsageError(f"{where}: faults[{i}]: {err}") from None
        elif isinstance(f, Mapping):
            try:
                out.append(fault_from_mapping(f, f"{where}: faults[{i}]"))
            except UsageError as err:
                msg = str(err)
                raise UsageError(msg if msg.startswith(f"{where}: faults[{i}]") else
                                 f"{where}: faults[{i}]: {msg}") from None
        else:
            raise UsageError(f"{where}: faults[{i}]: expected a table (kind, target, at, duration, value) or a "
                             f"fault line, got {f!r}")
    return tuple(out)


def _scalar_ok(value: Any) -> bool:
    """TOML values a parameter may take: scalars, or lists of scalars (for tuple parameters)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, list | tuple):
        return all(isinstance(v, bool | int | float | str) for v in value)
    return False


def expand_axis(source: str, key: str, value: Any) -> tuple[Any, ...]:
    """Turn a grid entry (a list, or a ``{start, stop, step|num, log}`` range) into its values.

    Args:
        source: the sweep file, for error messages.
        key: the dotted key (``grid.size``), for error messages.
        value: the TOML value.
    """
    where = _where(source)
    if isinstance(value, Mapping):
        return _expand_range(where, key, value)
    if isinstance(value, list | tuple):
        if not value:
            raise UsageError(f"{where}: {key}: an axis needs at least one value")
        for i, v in enumerate(value):
            if not _scalar_ok(v):
                raise UsageError(f"{where}: {key}[{i}]: expected a number, string, boolean or list of them, got {v!r}")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    raise UsageError(
        f"{where}: {key}: expected a list of values or a range table {{start, stop, step}} / {{start, stop, num}}, "
        f"got {value!r}"
    )


def _expand_range(where: str, key: str, r: Mapping[str, Any]) -> tuple[Any, ...]:
    unknown = sorted(set(r) - set(RANGE_KEYS))
    if unknown:
        raise UsageError(f"{where}: {key}: unknown range key {unknown[0]!r}; allowed: {', '.join(RANGE_KEYS)}")
    for k in ("start", "stop", "step"):
        if k == "step" and k not in r:
            continue
        if k not in r or isinstance(r[k], bool) or not isinstance(r[k], int | float) or not math.isfinite(r[k]):
            raise UsageError(f"{where}: {key}.{k}: a range needs a finite number {k}, got {r.get(k)!r}")
    if ("step" in r) == ("num" in r):
        raise UsageError(f"{where}: {key}: a range needs exactly one of step or num")
    start, stop = r["start"], r["stop"]
    integral = isinstance(start, int) and isinstance(stop, int)
    log = bool(r.get("log", False))
    if "step" in r:
        step = r["step"]
        if isinstance(step, bool) or not isinstance(step, int | float) or step == 0 or (stop - start) * step < 0:
            raise UsageError(f"{where}: {key}.step: expected a non-zero number going from start to stop, got {step!r}")
        if log:
            raise UsageError(f"{where}: {key}.log: log ranges take num, not step")
        integral = integral and isinstance(step, int)
        span = (stop - start) / step
        if not span < MAX_RUNS:  # checked before a value is made (a NaN or overflowing span fails too)
            raise UsageError(f"{where}: {key}: the range has {span + 1:.3g} values; an axis has at most {MAX_RUNS:,}")
        n = int(math.floor(span + 1e-9)) + 1  # stop included when it lands on the grid
        values = [start + i * step for i in range(n)]
        # decimal steps (0.1) accumulate error: round to the step's precision so 0.30000000000000004 reads 0.3
        values = values if integral else [round(v, 12) for v in values]
    else:
        num = r["num"]
        if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_RUNS:
            raise UsageError(f"{where}: {key}.num: expected an integer in [1, {MAX_RUNS:,}], got {num!r}")
        if log and (start <= 0 or stop <= 0):
            raise UsageError(f"{where}: {key}: a log range needs start > 0 and stop > 0")
        if num == 1:
            values = [start]
        elif log:
            ratio = (stop / start) ** (1.0 / (num - 1))
            values = [start * ratio**i for i in range(num)]
            values[-1] = stop
        else:
            values = [start + (stop - start) * i / (num - 1) for i in range(num)]
        if integral:
            ints = list(dict.fromkeys(int(round(v)) for v in values))
            if len(ints) != len(values):
                raise UsageError(
                    f"{where}: {key}: num = {num} integers from {start} to {stop} repeat after rounding; "
                    f"lower num, or write start = {float(start)} for a float range"
                )
            values = ints
    return tuple(values)


@dataclass(frozen=True)
class FigureSpec:
    """A figure drawn from a sweep's aggregated table.

    Args:
        kind: ``line`` (metric vs parameter with 95% bands), ``bars`` (error bars) or
            ``mrc`` (a line of ``miss_ratio`` against ``size``, log x).
        x: the parameter on the x axis.
        y: the metric on the y axis.
        hue: the parameter that gives one line/bar group per value, or None.
        name: the file stem; defaults to ``{kind}-{y}-vs-{x}``.
    """

    kind: str
    x: str
    y: str
    hue: str | None = None
    name: str = ""
    logx: bool = False
    logy: bool = False
    title: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FIGURE_KINDS:
            raise UsageError(f"figure kind must be one of {', '.join(FIGURE_KINDS)}, got {self.kind!r}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.kind}-{self.y}-vs-{self.x}")
        check_name("figure", "name", self.name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "figures") -> FigureSpec:
        """Build from a TOML table; errors name ``where`` and the key."""
        unknown = sorted(set(data) - set(FIGURE_KEYS))
        if unknown:
            raise UsageError(f"{where}.{unknown[0]}: unknown figure key; allowed: {', '.join(FIGURE_KEYS)}")
        values = dict(data)
        kind = values.get("kind", "line")
        if kind == "mrc":
            values.setdefault("x", "size")
            values.setdefault("y", "miss_ratio")
            values.setdefault("hue", "policy")
            values.setdefault("logx", True)
        for k in ("x", "y"):
            if not isinstance(values.get(k), str):
                raise UsageError(f"{where}.{k}: expected the name of a {'parameter' if k == 'x' else 'metric'}")
        if values.get("name"):
            check_name(where, "name", values["name"])
        elif isinstance(kind, str) and kind in FIGURE_KINDS:
            check_name(where, "name (made from kind, y and x; give a shorter name)",
                       f"{kind}-{values['y']}-vs-{values['x']}")
        for k in ("hue", "title"):
            if values.get(k) is not None and not isinstance(values[k], str):
                raise UsageError(f"{where}.{k}: expected a string, got {values[k]!r}")
        for k in ("logx", "logy"):
            if k in values and not isinstance(values[k], bool):
                raise UsageError(f"{where}.{k}: expected true or false, got {values[k]!r}")
        try:
            fig = cls(**{"kind": kind, **values})
        except UsageError as err:
            raise UsageError(f"{where}.kind: {err}") from None
        return fig


@dataclass(frozen=True)
class SweepSpec:
    """A declarative sweep: target × (base + grid points) × replications, seeded from one root.

    Args:
        target: a model name from the catalogue, or ``"replay"``.
        base: parameters shared by every point.
        grid: axes crossed with each other, ``((name, values), ...)``; the last varies fastest.
        zips: groups of axes that move together, each ``((name, values), ...)`` with equal lengths.
        replications: runs per point, each with its own seed.
        seed: the root seed.
        common_random_numbers: when True, replication ``r`` uses the same seed at every point
            (a fair comparison of policies on the same synthetic trace); otherwise every
            point × replication has its own seed.
        faults: the fault schedule applied to every run (:class:`simcache.sim.faults.Fault`).
        metrics: the metrics to aggregate (empty: every numeric one).
        figures: figures drawn after the sweep.
        name: the sweep's name (default output folder ``results/NAME``).
        quick: overrides for a fast check (``replications``, base values, or a list replacing a grid
            axis), applied by :meth:`quick_variant`.
        source: the file it came from, named in error messages.
    """

    target: str
    base: Mapping[str, Any] = field(default_factory=dict)
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    zips: tuple[tuple[tuple[str, tuple[Any, ...]], ...], ...] = ()
    replications: int = 1
    seed: int = 0
    common_random_numbers: bool = False
    faults: tuple[Any, ...] = ()
    metrics: tuple[str, ...] = ()
    figures: tuple[FigureSpec, ...] = ()
    name: str = "sweep"
    description: str = ""
    quick: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = _where(self.source)
        if not isinstance(self.target, str) or not self.target:
            raise UsageError(f"{where}: target: expected a model name or 'replay', got {self.target!r}")
        if isinstance(self.replications, bool) or not isinstance(self.replications, int) or self.replications < 1:
            raise UsageError(f"{where}: replications: expected an integer >= 1, got {self.replications!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"{where}: seed: expected an integer >= 0, got {self.seed!r}")
        check_name(where, "name", self.name)
        from simcache.sim.faults import Fault

        for i, f in enumerate(self.faults):
            if not isinstance(f, Fault):
                raise UsageError(f"{where}: faults[{i}]: expected a Fault, got {f!r}")
        for k, v in self.base.items():
            if not _scalar_ok(v):
                raise UsageError(f"{where}: base.{k}: expected a number, string, boolean or list of them, got {v!r}")
        seen: dict[str, str] = {k: "base" for k in self.base}
        for name, values in self.grid:
            if name in seen:
                raise UsageError(f"{where}: grid.{name}: parameter already set in {seen[name]}")
            if not values:
                raise UsageError(f"{where}: grid.{name}: an axis needs at least one value")
            seen[name] = "grid"
        for i, group in enumerate(self.zips):
            if not group:
                raise UsageError(f"{where}: zip[{i}]: a zipped group needs at least one axis")
            lengths = {name: len(values) for name, values in group}
            if len(set(lengths.values())) != 1:
                raise UsageError(f"{where}: zip[{i}]: zipped axes need equal lengths, got {lengths}")
            for name, _ in group:
                if name in seen:
                    raise UsageError(f"{where}: zip[{i}].{name}: parameter already set in {seen[name]}")
                seen[name] = f"zip[{i}]"

    # ---------------------------------------------------------------- build
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "") -> SweepSpec:
        """Build from the TOML layout (also handy in notebooks); errors name ``source`` and the key."""
        where = _where(source)
        unknown = sorted(set(data) - set(TOP_KEYS))
        if unknown:
            raise UsageError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(TOP_KEYS)}")
        if "target" not in data:
            raise UsageError(f"{where}: target: missing; name a model (simcache models) or 'replay'")
        for key in ("base", "grid"):
            if not isinstance(data.get(key, {}), Mapping):
                raise UsageError(f"{where}: {key}: expected a table of parameter = value(s)")
        base = _flatten_options(where, "base", data.get("base", {}), axes=False)
        raw_grid = _flatten_options(where, "grid", data.get("grid", {}), axes=True)
        grid = tuple((k, expand_axis(source, f"grid.{k}", v)) for k, v in raw_grid.items())
        raw_zips = data.get("zip", [])
        if isinstance(raw_zips, Mapping):
            raw_zips = [raw_zips]
        if not isinstance(raw_zips, list) or not all(isinstance(z, Mapping) for z in raw_zips):
            raise UsageError(f"{where}: zip: expected [[zip]] tables of equal-length lists")
        zips = tuple(
            tuple((k, expand_axis(source, f"zip[{i}].{k}", v))
                  for k, v in _flatten_options(where, f"zip[{i}]", z, axes=True).items())
            for i, z in enumerate(raw_zips)
        )
        raw_figs = data.get("figures", [])
        if not isinstance(raw_figs, list) or not all(isinstance(f, Mapping) for f in raw_figs):
            raise UsageError(f"{where}: figures: expected [[figures]] tables")
        figures = tuple(FigureSpec.from_dict(f, f"{where}: figures[{i}]") for i, f in enumerate(raw_figs))
        metrics = data.get("metrics", [])
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise UsageError(f"{where}: metrics: expected a list of metric names")
        crn = data.get("common_random_numbers", False)
        if not isinstance(crn, bool):
            raise UsageError(f"{where}: common_random_numbers: expected true or false, got {crn!r}")
        name = data.get("name") or (Path(source).stem if source else "sweep")
        if "description" in data and not isinstance(data["description"], str):
            raise UsageError(f"{where}: description: expected a string, got {data['description']!r}")
        quick = data.get("quick", {})
        if not isinstance(quick, Mapping):
            raise UsageError(f"{where}: quick: expected a table of overrides (replications, parameter = value)")
        quick_faults = quick.get("faults")
        quick = _flatten_options(where, "quick", {k: v for k, v in quick.items() if k != "faults"}, axes=True)
        if quick_faults is not None:
            _faults(f"{where}: quick", quick_faults)  # checked now, applied by quick_variant
            quick["faults"] = quick_faults
        return cls(
            target=data["target"],
            base=base,
            grid=grid,
            zips=zips,
            replications=data.get("replications", 1),
            seed=data.get("seed", 0),
            common_random_numbers=crn,
            faults=_faults(where, data.get("faults", [])),
            metrics=tuple(metrics),
            figures=figures,
            name=name,
            description=str(data.get("description", "")),
            quick=dict(quick),
            source=source,
        )

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout with ranges expanded: ``SweepSpec.from_dict(spec.to_dict())`` rebuilds it."""
        return {
            "name": self.name, "description": self.description, "target": self.target,
            "replications": self.replications, "seed": self.seed,
            "common_random_numbers": self.common_random_numbers, "base": dict(self.base),
            "grid": {k: list(v) for k, v in self.grid},
            "zip": [{k: list(v) for k, v in group} for group in self.zips],
            "faults": [f.as_dict() for f in self.faults],
            "metrics": list(self.metrics),
            "quick": dict(self.quick),
            "figures": [
                {k: getattr(f, k) for k in FIGURE_KEYS if getattr(f, k) not in (None, "", False)} for f in self.figures
            ],
        }

    def quick_variant(self) -> SweepSpec:
        """The sweep with its ``[quick]`` overrides applied, named ``NAME-quick`` (itself when it has none).

        ``replications`` replaces the count; ``faults`` replaces the fault schedule; a parameter set in
        ``base`` takes the new value; a list for a grid axis replaces that axis' values.
        """
        if not self.quick:
            return self
        where = f"{_where(self.source)}: quick"
        data = self.to_dict()
        data["quick"] = {}
        data["name"] = f"{self.name}-quick"
        grid_axes = dict(self.grid)
        zip_axes = {k for group in self.zips for k, _ in group}
        for key, value in self.quick.items():
            if key == "replications":
                data["replications"] = value
            elif key == "faults":
                data["faults"] = value
            elif key in grid_axes:
                data["grid"][key] = value
            elif key in zip_axes:
                raise UsageError(f"{where}.{key}: a zipped axis cannot be overridden; override the whole [[zip]]")
            else:
                data["base"][key] = value
        return SweepSpec.from_dict(data, source=self.source)

    # ---------------------------------------------------------------- points
    @property
    def axes(self) -> list[str]:
        """The parameters that vary, in grid order then zip order."""
        return [k for k, _ in self.grid] + [k for group in self.zips for k, _ in group]

    @property
    def param_names(self) -> list[str]:
        """Every parameter a point sets: base first, then the axes."""
        return list(self.base) + self.axes

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as a full parameter dict (base + axes), in a fixed order."""
        dims: list[list[dict[str, Any]]] = [[{k: v} for v in values] for k, values in self.grid]
        for group in self.zips:
            names = [k for k, _ in group]
            dims.append([dict(zip(names, vals, strict=True)) for vals in zip(*(v for _, v in group), strict=True)])
        out = []
        for combo in itertools.product(*dims):
            point = dict(self.base)
            for part in combo:
                point.update(part)
            out.append(point)
        return out

    @property
    def n_points(self) -> int:
        """How many points the grid has (from the axis lengths: nothing is built)."""
        n = 1
        for _, values in self.grid:
            n *= len(values)
        for group in self.zips:
            n *= len(group[0][1])
        return n

    @property
    def n_runs(self) -> int:
        return self.n_points * self.replications

    def check_size(self, max_runs: int = MAX_RUNS) -> None:
        """Refuse a sweep of more than ``max_runs`` runs, before any point or task is built."""
        if self.n_runs > max_runs:
            raise UsageError(
                f"{_where(self.source)}: {self.n_points:,} points x {self.replications:,} replications = "
                f"{self.n_runs:,} runs; at most {max_runs:,} (simcache sweep --max-runs N raises the limit)")

    def fingerprint(self) -> str:
        """A hash of everything that decides which runs exist and what they compute."""
        body: dict[str, Any] = {
            "target": self.target, "points": self.points(), "replications": self.replications,
            "seed": self.seed, "crn": self.common_random_numbers,
        }
        if self.faults:  # only when there are some: folders of sweeps without faults keep their fingerprint
            body["faults"] = [f.as_dict() for f in self.faults]
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()[:16]

    def validate(self, max_runs: int = MAX_RUNS) -> None:
        """Check the target, every parameter name and value, every point, the figures and metrics, and the
        ``[quick]`` variant, before anything runs."""
        from simcache.sweeps.targets import resolve_target

        where = _where(self.source)
        self.check_size(max_runs)
        target = resolve_target(self.target, where)
        if self.quick:
            self._validate_quick(target, max_runs)
        self._validate(target)

    def _validate_quick(self, target: Any, max_runs: int) -> None:
        """The ``[quick]`` overrides, named ``quick.KEY``, then the whole quick variant."""
        where = f"{_where(self.source)}: quick"
        for key, value in self.quick.items():
            if key == "replications":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise UsageError(f"{where}.replications: expected an integer >= 1, got {value!r}")
            elif key != "faults":
                values = expand_axis(self.source, f"quick.{key}", value) if key in dict(self.grid) else [value]
                target.check_value(f"{where}.{key}", key, values)
        try:
            variant = self.quick_variant()
            variant.check_size(max_runs)
            variant._validate(target)
        except UsageError as err:
            msg = str(err)
            prefix = f"{_where(self.source)}: "
            raise UsageError(msg if msg.startswith(where) else
                             f"{where}: {msg.removeprefix(prefix)}") from None

    def _validate(self, target: Any) -> None:
        where = _where(self.source)
        locations: list[tuple[str, str, Sequence[Any]]] = [(f"base.{k}", k, [v]) for k, v in self.base.items()]
        locations += [(f"grid.{k}", k, vals) for k, vals in self.grid]
        locations += [(f"zip[{i}].{k}", k, vals) for i, g in enumerate(self.zips) for k, vals in g]
        for loc, key, values in locations:
            target.check_value(f"{where}: {loc}", key, values)
        for i, point in enumerate(self.points()):
            target.check_point(f"{where}: point {i} ({_short(point, self.axes)})", point)
        if self.faults:
            target.check_faults(f"{where}: faults", self.faults, self.points())
        for i, fig in enumerate(self.figures):
            if fig.x not in self.axes:
                raise UsageError(
                    f"{where}: figures[{i}].x: {fig.x!r} is not a grid axis; axes: {', '.join(self.axes) or 'none'}"
                )
            if fig.hue is not None and fig.hue not in self.axes:
                raise UsageError(
                    f"{where}: figures[{i}].hue: {fig.hue!r} is not a grid axis; axes: {', '.join(self.axes)}"
                )
        known = target.metric_names() if hasattr(target, "metric_names") else None
        if known is not None:
            for i, fig in enumerate(self.figures):
                if fig.y not in known:
                    raise UsageError(f"{where}: figures[{i}].y: {fig.y!r} is not a metric of {self.target!r}; "
                                     f"metrics: {', '.join(sorted(known))}")
            for m in self.metrics:
                if m not in known:
                    raise UsageError(f"{where}: metrics: {m!r} is not a metric of {self.target!r}; "
                                     f"metrics: {', '.join(sorted(known))}")
        names = [f.name for f in self.figures]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise UsageError(f"{where}: figures: two figures are named {dup!r} (they would overwrite each other)")


def _short(point: Mapping[str, Any], axes: Iterable[str]) -> str:
    return ", ".join(f"{k}={point[k]!r}" for k in axes if k in point)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep TOML file; a bad file or key gives one line naming the file and key."""
    p = Path(path)
    shown = show_path(p)
    try:
        # stat first: a FIFO or a device would block or never end
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{shown}: not a regular file (a sweep file is a TOML file)")
        if st.st_size > MAX_FILE_BYTES:
            raise UsageError(f"{shown}: {st.st_size:,} bytes; a sweep file has at most {MAX_FILE_BYTES:,}")
        raw = p.read_bytes()
    except OSError as err:
        raise UsageError(f"{shown}: cannot read sweep file: {err.strerror or err}") from None
    except ValueError as err:  # a NUL byte in the name
        raise UsageError(f"{shown}: not a usable file name ({err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UsageError(f"{shown}: line {line}: not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start})"
                         ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{shown}: not valid TOML: {err}") from None
    return SweepSpec.from_dict(data, source=str(p))


def sweep(
    target: str,
    *,
    base: Mapping[str, Any] | None = None,
    grid: Mapping[str, Any] | None = None,
    zip: Sequence[Mapping[str, Any]] = (),  # noqa: A002 - mirrors the TOML key
    replications: int = 1,
    seed: int = 0,
    name: str = "sweep",
    **options: Any,
) -> SweepSpec:
    """Build a sweep in Python with the same layout as the TOML file.

    Args:
        target: a model name or ``"replay"``.
        base: parameters shared by every point.
        grid: axis name -> list of values or range dict.
        zip: groups of equal-length axes that move together.
        replications: runs per point.
        seed: the root seed.
        name: the sweep's name.
        options: ``common_random_numbers``, ``faults`` (tables or fault lines), ``metrics``, ``figures``,
            ``description``.
    """
    data: dict[str, Any] = {
        "target": target, "base": dict(base or {}), "grid": dict(grid or {}), "zip": list(zip),
        "replications": replications, "seed": seed, "name": name, **options,
    }
    return SweepSpec.from_dict(data, source="")
