"""The scenario catalogue: the seed's interview questions and design scenarios, runnable, narrated and plotted.

A scenario is data plus a little code, one file per scenario in ``models/scenarios/`` (shipped inside the
package as ``simcache/models/scenarios``; folders named by ``SIMCACHE_MODELS_PATH`` are searched for a
``scenarios/`` subfolder too).  Each file declares its parameters as a frozen dataclass, a quick set of
overrides, and three functions registered with :func:`scenario`::

    @dataclass(frozen=True)
    class Params:
        rate: float = 1000.0
        ttl: float = 10.0

    def takeaways(p: Params, f: Findings) -> list[str]:
        return [f"the database saw {f.numbers['db_peak']:.0f} queries/s at the expiry"]

    @scenario("stampede", "a hot key expires under load", topic="stampedes",
              question="How do you keep a hot key's expiry from reaching the database 400 times?",
              source="Cache Stampede Prevention", setup="{rate} requests/s...", watch="...", params=Params,
              quick={"rate": 200.0}, runtime="8 s", takeaways=takeaways, figures=figures, needs=("stampede",))
    def run(p: Params, seed: int) -> Findings:
        ...

``run`` composes existing models and patterns (:func:`simulate` runs a registered model and returns its full
result) and returns :class:`Findings`: a result table, the headline numbers, and whatever the figures need.
``takeaways`` turns this run's numbers into sentences — never canned text that reads the same whatever the
numbers — and ``figures`` writes PNG files.  The same parameters and seed give the same table and numbers.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simcache.errors import UsageError

#: the topics, in the order the catalogue lists them (one notebook each)
TOPICS = ("eviction", "tiers-and-latency", "write-strategies", "consistency", "stampedes",
          "replication-and-failover", "sharding", "rate-limiting-and-locks")


@dataclass
class Findings:
    """What a scenario's run found: a result table, the headline numbers, and data for its figures.

    Args:
        table: result rows (one dict per variant), JSON-able values.
        numbers: the headline numbers the takeaways quote (flat, JSON-able).
        columns: the table's columns in display order (default: the keys of the first row).
        data: anything the figures need (arrays, time series); not part of the JSON output.
    """

    table: list[dict[str, Any]]
    numbers: dict[str, Any]
    columns: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.columns and self.table:
            self.columns = list(self.table[0])


@dataclass
class ScenarioResult:
    """One run of a scenario: its parameters, findings, takeaways and the figures written."""

    scenario: str
    seed: int
    quick: bool
    params: dict[str, Any]
    findings: Findings
    takeaways: list[str]
    figures: list[str]
    wall_seconds: float

    @property
    def table(self) -> list[dict[str, Any]]:
        return self.findings.table

    @property
    def numbers(self) -> dict[str, Any]:
        return self.findings.numbers

    def frame(self) -> Any:
        """The result table as a pandas DataFrame (columns in display order)."""
        import pandas as pd

        return pd.DataFrame(self.findings.table, columns=self.findings.columns or None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: everything but the figures' data."""
        return {"scenario": self.scenario, "seed": self.seed, "quick": self.quick, "params": self.params,
                "columns": self.findings.columns, "table": self.findings.table, "numbers": self.findings.numbers,
                "takeaways": self.takeaways, "figures": self.figures, "wall_seconds": self.wall_seconds}


RunFn = Callable[[Any, int], Findings]
TakeawaysFn = Callable[[Any, Findings], list[str]]
FiguresFn = Callable[[Any, Findings, Path], list[Path]]


@dataclass(frozen=True)
class Scenario:
    """One registered scenario (see the module docstring)."""

    name: str
    summary: str
    topic: str
    question: str
    source: str
    setup: str
    watch: str
    params: type
    quick: Mapping[str, Any]
    runtime: str
    run: RunFn
    takeaways: TakeawaysFn
    figures: FiguresFn | None = None
    needs: tuple[str, ...] = ()
    module: str = ""

    def defaults(self) -> dict[str, Any]:
        return {f.name: _default_of(f) for f in dataclasses.fields(self.params)}

    def make_params(self, values: Mapping[str, Any] | None = None, quick: bool = False) -> Any:
        """The parameter dataclass: defaults, then the quick set (if ``quick``), then ``values`` (strings converted)."""
        from simcache.catalog import convert_value

        hints = typing.get_type_hints(self.params)
        valid = [f.name for f in dataclasses.fields(self.params)]
        values = dict(values or {})
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise UsageError(f"scenario {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                             f"valid parameters: {', '.join(valid)}")
        merged = {**(dict(self.quick) if quick else {}), **values}
        owner = f"scenario {self.name}"
        converted = {k: convert_value(owner, k, hints.get(k, Any), v) for k, v in merged.items()}
        try:
            return self.params(**converted)
        except (TypeError, ValueError) as err:
            raise UsageError(f"scenario {self.name!r}: {err}") from None

    def narrative(self, p: Any) -> tuple[str, str]:
        """The setup and what to watch, with this run's parameters filled in (``{rate}`` in the text)."""
        values = dataclasses.asdict(p)
        return self.setup.format_map(values), self.watch.format_map(values)


_SCENARIOS: dict[str, Scenario] = {}
_LOADED = False


def scenario(name: str, summary: str, *, topic: str, question: str, source: str, setup: str, watch: str,
             params: type, quick: Mapping[str, Any], runtime: str, takeaways: TakeawaysFn,
             figures: FiguresFn | None = None, needs: Sequence[str] = ()) -> Callable[[RunFn], RunFn]:
    """Decorator: register ``run(params, seed) -> Findings`` as scenario ``name``.

    Args:
        name: the scenario's name on the command line.
        summary: one line.
        topic: one of :data:`TOPICS`.
        question: the seed's question (or design scenario) it answers, as the seed words it.
        source: where in the seed the question is (``"Interview question 1"``).
        setup: what is simulated (``{param}`` placeholders are filled from the run's parameters).
        watch: what to watch in the results (placeholders as in ``setup``).
        params: a frozen dataclass of the parameters with their defaults (validated in ``__post_init__``).
        quick: overrides for ``--quick`` (a run of a few seconds).
        runtime: typical wall time with the defaults, as listed by ``simcache scenarios``.
        takeaways: ``(params, findings) -> sentences`` computed from the numbers.
        figures: ``(params, findings, out_dir) -> paths`` of the PNG files written.
        needs: registered models the run uses (checked before it starts).
    """
    if topic not in TOPICS:
        raise TypeError(f"scenario {name!r}: topic must be one of {', '.join(TOPICS)}, got {topic!r}")
    if not dataclasses.is_dataclass(params):
        raise TypeError(f"scenario {name!r}: params must be a dataclass, got {params!r}")
    fields_ = {f.name for f in dataclasses.fields(params)}
    if set(quick) - fields_:
        raise TypeError(f"scenario {name!r}: quick names unknown parameters {sorted(set(quick) - fields_)}")

    def deco(fn: RunFn) -> RunFn:
        if name in _SCENARIOS and _SCENARIOS[name].run.__qualname__ != fn.__qualname__:
            raise UsageError(f"duplicate scenario name {name!r} ({_SCENARIOS[name].module} and {fn.__module__})")
        _SCENARIOS[name] = Scenario(name, summary, topic, question, source, setup, watch, params, dict(quick),
                                    runtime, fn, takeaways, figures, tuple(needs), fn.__module__)
        return fn

    return deco


def scenario_dirs() -> list[Path]:
    """Folders searched for scenario files: ``scenarios/`` inside each model folder."""
    from simcache.catalog import model_dirs

    return [d / "scenarios" for d in model_dirs() if (d / "scenarios").is_dir()]


def load_scenarios(force: bool = False) -> dict[str, Scenario]:
    """Import every ``*.py`` file of the scenario folders (once) and return the catalogue."""
    global _LOADED
    if _LOADED and not force:
        return _SCENARIOS
    from simcache.catalog import import_files

    import_files(scenario_dirs(), "simcache_scenarios", force)
    _LOADED = True
    return _SCENARIOS


def scenario_names() -> list[str]:
    """Registered scenarios, by topic then name."""
    s = load_scenarios()
    return sorted(s, key=lambda n: (TOPICS.index(s[n].topic), n))


def get_scenario(name: str) -> Scenario:
    """The scenario registered as ``name``; an unknown name raises with the valid list."""
    s = load_scenarios()
    if name not in s:
        raise UsageError(f"unknown scenario {name!r}; valid scenarios: {', '.join(scenario_names()) or 'none found'}")
    return s[name]


def run_scenario(name: str, values: Mapping[str, Any] | None = None, *, quick: bool = False, seed: int = 0,
                 out: str | Path | None = None) -> ScenarioResult:
    """Run a scenario by name: parameters, findings, takeaways, and the figures when ``out`` is given.

    Args:
        name: a registered scenario.
        values: parameter values (strings are converted to the declared types).
        quick: apply the scenario's quick set first (a run of a few seconds).
        seed: the run's seed.
        out: folder for the figures (created); None writes none.
    """
    sc = get_scenario(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")
    p = sc.make_params(values, quick)
    from simcache.catalog import load_models

    missing = [m for m in sc.needs if m not in load_models()]
    if missing:
        raise UsageError(f"scenario {name!r} needs model(s) {', '.join(missing)}, not in this build")
    t0 = time.perf_counter()
    findings = sc.run(p, seed)
    wall = time.perf_counter() - t0
    sentences = list(sc.takeaways(p, findings))
    written: list[str] = []
    if out is not None and sc.figures is not None:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--out: {folder} exists and is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written = [str(x) for x in sc.figures(p, findings, folder)]
        except OSError as err:
            raise UsageError(f"--out: cannot write into {folder}: {err.strerror or err}") from None
    return ScenarioResult(name, seed, quick, dataclasses.asdict(p), findings, sentences, written, wall)


# ------------------------------------------------------------------ helpers for scenario files
def simulate(model_name: str, params: Mapping[str, Any] | None = None, seed: int = 0, faults: Any = ()) -> Any:
    """Run a registered model and return its full result (summary and time series, see ``run_model_full``)."""
    from simcache.sim.report import run_model_full

    return run_model_full(model_name, params, seed, faults=faults)


def model_module(model_name: str) -> types.ModuleType:
    """The module of a registered model (its ``simulate``, ``build``, parameter class...)."""
    from simcache.catalog import get_model

    return sys.modules[get_model(model_name).source]


def series(result: Any, component: str, metric: str) -> tuple[list[float], list[float]]:
    """One metric of a model run's time series: (window end times, values)."""
    ts = result.timeseries
    sel = ts[(ts.component == component) & (ts.metric == metric)]
    return [float(t) for t in sel.time], [float(v) for v in sel.value]


def save(fig: Any, out_dir: Path, stem: str) -> Path:
    """Write ``fig`` as ``out_dir/stem.png`` in the simcache style and close it."""
    from simcache.plots import save_figure

    return save_figure(fig, out_dir / stem, formats=("png",))[0]


def num(x: float, digits: int = 3) -> str:
    """A number as the takeaways print it: ``digits`` significant figures, thousands separated."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, int) or float(x).is_integer() and abs(x) >= 1:
        return f"{int(x):,}"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.4321`` -> ``43.2 %``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.{digits}f} %"


def ms(x: float) -> str:
    """A duration in milliseconds, readable: ``14 ms``, ``1.8 s``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x >= 1000:
        return f"{x / 1000:.3g} s"
    return f"{x:.3g} ms"


def ratio(a: float, b: float) -> str:
    """``a`` relative to ``b`` as ``3.2×`` (or ``n/a`` when ``b`` is 0)."""
    if not b:
        return "n/a"
    return f"{a / b:.3g}×"


def check(cond: bool, message: str) -> None:
    """In a parameter class's ``__post_init__``: raise ``ValueError(message)`` unless ``cond``."""
    if not cond:
        raise ValueError(message)


def positive(p: Any, *names: str) -> None:
    """Each named field of ``p`` is a finite number > 0."""
    for n in names:
        v = getattr(p, n)
        check(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
              f"{n} must be a number > 0, got {v!r}")


def choices(p: Any, name: str, allowed: Sequence[str]) -> list[str]:
    """A comma-separated list field of ``p``: each item one of ``allowed``; returns the items."""
    items = [x.strip() for x in str(getattr(p, name)).split(",")]
    bad = [x for x in items if x not in allowed]
    check(bool(items) and all(items) and not bad,
          f"{name} must be a comma-separated list of {', '.join(allowed)}, got {getattr(p, name)!r}")
    return items


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
