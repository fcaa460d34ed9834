"""The one model runner: a built system, its fault schedule, the run, the summary and the time series."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simcache.sim import faults as faults_mod
from simcache.sim.report import SimResult, summarize
from simcache.sim.world import World

__all__ = ["PROGRESS", "System", "simulate_system"]

#: progress bar of a run, in simulated seconds: None shows it in a terminal or a notebook for runs that
#: take a while (``simcache run --progress``/``--quiet`` set it; see :mod:`simcache.progress`)
PROGRESS: bool | None = None
#: runs shorter than this many simulated seconds get no bar
PROGRESS_MIN_DURATION = 30.0


@dataclass
class System:
    """A built system, ready to run.

    Args:
        world: its world.
        clients: the load generators (their issued/finished counts go into the summary).
        tiers: component names reported per tier, top to bottom.
        db: the database (its load goes into the summary), or None.
        parts: the components by role, for callers that want to poke at them.
    """

    world: World
    clients: list[Any]
    tiers: list[str]
    db: Any = None
    parts: dict[str, Any] = field(default_factory=dict)


def simulate_system(system: System, duration: float,
                    faults: Iterable[faults_mod.Fault | str | Mapping[str, Any]] = (),
                    timeseries: bool = True) -> SimResult:
    """Apply ``faults``, run ``system`` for ``duration`` simulated seconds, and summarise it."""
    world = system.world
    t0 = time.perf_counter()
    faults_mod.schedule(world, faults)
    bar = None
    if PROGRESS or (PROGRESS is None and duration >= PROGRESS_MIN_DURATION):
        from simcache.progress import progress_bar

        bar = progress_bar(duration, "simulated", unit="s", enabled=PROGRESS,
                           bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s simulated [{elapsed}<{remaining}]")
        if not bar.disable:
            world.process(_tick(world, bar, max(duration / 100, world.recorder.window)))
    try:
        world.run(duration)
    finally:
        if bar is not None:
            bar.close()
    summary = summarize(world, duration, system.clients, system.tiers, system.db)
    summary["wall_seconds"] = time.perf_counter() - t0
    ts = world.recorder.timeseries() if timeseries else None
    return SimResult(summary, ts, world) if ts is not None else SimResult(summary, world=world)


def _tick(world: World, bar: Any, step: float) -> Any:
    """Move the bar once per ``step`` simulated seconds (a SimPy process that touches nothing else)."""
    while True:
        yield world.env.timeout(step)
        bar.update(step)
