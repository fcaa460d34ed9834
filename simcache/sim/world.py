"""The world: one SimPy environment, one seed split into per-component random streams, one recorder."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from heapq import heappush
from typing import Any

import numpy as np
import simpy

from simcache.sim.metrics import Recorder


class Step:
    """A bare scheduled callback: what SimPy's scheduler needs of an event, and nothing more.

    ``Environment.step`` pops ``(time, priority, id, event)``, calls each of
    ``event.callbacks`` with the event and checks ``event._ok``; a slotted
    object with those fields costs a fraction of a :class:`simpy.Timeout`.
    """

    __slots__ = ("callbacks", "_value")
    _ok = True

    def __init__(self, fn: Callable[[Any], None], value: Any) -> None:
        self.callbacks = [fn]
        self._value = value

    @property
    def value(self) -> Any:
        return self._value


class World:
    """The shared context of a simulation.

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
        env = self.env
        ev = Step(fn, value)
        heappush(env._queue, (env._now + delay, 1, next(env._eid), ev))
        return ev

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
