"""The world: one SimPy environment, one seed split into per-component random streams, one recorder."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy

from simcache.sim.metrics import Recorder


class Step:
    """A bare scheduled callback: ``fn(step)`` runs at its time; ``step.value`` is what it carries.

    Steps live in the world's own calendar (see :class:`World`), not in
    SimPy's queue: a slotted object and a heap entry cost a fraction of a
    :class:`simpy.Timeout` and of a pass through ``Environment.step``.
    """

    __slots__ = ("fn", "_value")

    def __init__(self, fn: Callable[[Any], None], value: Any) -> None:
        self.fn = fn
        self._value = value

    @property
    def value(self) -> Any:
        return self._value


class _Pump:
    """The SimPy event that runs the world's calendar: it sits in SimPy's queue at the calendar's head."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self.callbacks = [fn]

    def __lt__(self, other: object) -> bool:
        return False  # two pumps for the same calendar head: either may go first


class World:
    """The shared context of a simulation.

    Bare callbacks (:meth:`at`, :func:`simcache.sim.core.schedule`) go into the
    world's own calendar, a heap of ``(time, priority, id, step)`` entries whose
    ids come from SimPy's own counter, so calendar steps and SimPy events share
    one total order, the order SimPy alone would give them.  One SimPy event
    (a pump) waits at the calendar's head; when it fires it runs every
    calendar step due before SimPy's next event, so a step costs a heap push
    and pop instead of a pass through ``Environment.step``.

    Args:
        seed: the run's seed; every component stream derives from it.
        window: metrics time-window width in simulated seconds.
        warmup: requests finishing before this time are left out of totals.
        rel_err: relative error of latency quantiles.
    """

    def __init__(self, seed: int = 0, window: float = 1.0, warmup: float = 0.0, rel_err: float = 0.01) -> None:
        self.env = simpy.Environment()
        self.seed = int(seed)
        self.recorder = Recorder(window, rel_err=rel_err, warmup=warmup)
        self._streams: set[str] = set()
        self.network: Any = None  # set by simcache.sim.network.Network
        self.cal: list[tuple[float, int, int, Step]] = []
        #: key of the earliest pump waiting in SimPy's queue (_ALWAYS while the calendar runs: no pump needed)
        self._pump_t = math.inf  # time of the earliest pump waiting in SimPy's queue (-inf while pumping)
        self._eid = self.env._eid  # SimPy's id counter, shared so both queues order ties the same way
        self.steps = 0

    @property
    def now(self) -> float:
        return self.env.now

    def rng(self, name: str) -> np.random.Generator:
        """The random stream of component ``name``.

        Streams are keyed by name (``SeedSequence(seed, spawn_key=(crc32(name),))``,
        the same derivation ``SeedSequence.spawn`` uses), so adding a
        component never changes another component's draws.
        """
        if name in self._streams:
            raise ValueError(f"random stream {name!r} already taken; give each component a unique name")
        self._streams.add(name)
        key = zlib.crc32(name.encode())
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))

    def at(self, delay: float, fn: Callable[[Any], None], value: Any = None) -> Step:
        """Call ``fn(step)`` after ``delay`` (>= 0); ``step.value`` is ``value``."""
        ev = Step(fn, value)
        self.push(self.env._now + delay, ev)
        return ev

    def push(self, t: float, ev: Step) -> None:
        """Put ``ev`` in the calendar at absolute time ``t`` (>= now)."""
        eid = next(self._eid)
        heappush(self.cal, (t, 1, eid, ev))
        if t < self._pump_t:
            self.new_pump(t, eid)

    def new_pump(self, t: float, eid: int) -> None:
        """Make sure the calendar runs at ``(t, eid)`` (called when a step is pushed before the waiting pump)."""
        self._pump_t = t
        # id - 0.5: just before the calendar entry itself, and after everything SimPy would run before it
        heappush(self.env._queue, (t, 1, eid - 0.5, _Pump(self._pump)))

    def _pump(self, _ev: _Pump) -> None:
        """Run calendar steps until SimPy's own queue holds something earlier (or the calendar is empty)."""
        env = self.env
        cal = self.cal
        q = env._queue
        self._pump_t = -math.inf
        n = 0
        try:
            while cal:
                item = cal[0]
                if q and q[0] < item:
                    if q[0][3].__class__ is _Pump:
                        heappop(q)  # we are running the calendar already
                        continue
                    break
                heappop(cal)
                env._now = item[0]
                ev = item[3]
                n += 1
                ev.fn(ev)
        finally:
            self.steps += n
            self._pump_t = math.inf
            if cal:
                head = cal[0]
                self.new_pump(head[0], head[2])

    def run(self, until: float) -> None:
        """Run until simulated time ``until``, scraping metrics once per window."""
        rec = self.recorder
        rec.scrape(self.env.now)

        def scraper(env: simpy.Environment) -> Any:
            while True:
                yield env.timeout(rec.window)
                rec.scrape(env.now)

        self.env.process(scraper(self.env))
        self.env.run(until=until)
        rec.finish(self.env.now)
