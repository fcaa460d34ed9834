"""The world: one SimPy environment, one seed split into per-component random streams, one recorder."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy

from simcache.sim.metrics import Recorder

#: A SimPy queue entry ``(time, priority, id, event)``; the event is a SimPy event or a :class:`Step`.
EventEntry = tuple[float, int, int, Any]
#: A bare-call entry ``(time, priority, id, fn, arg)``; ``fn`` is None only for :meth:`World.run`'s stop mark.
CallEntry = tuple[float, int, int, Callable[[Any, Any], None] | None, Any]
#: Anything :class:`SimEnv`'s queue holds.
QueueEntry = EventEntry | CallEntry


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


class SimEnv(simpy.Environment):
    """A SimPy environment whose queue may also hold bare calls.

    Besides SimPy's ``(time, priority, id, event)`` entries, the queue takes
    ``(time, 1, id, fn, arg)`` entries: at ``time`` the loop calls
    ``fn(arg, id)`` (the id lets a request ignore a step it no longer waits
    for).  Entries are ordered by the same ``(time, priority, id)`` prefix, so
    calls and SimPy events interleave exactly as they would as events; a call
    costs a tuple instead of an event object and a callback list.
    """

    # SimPy types its (invariant) queue list as event entries only; this one also holds bare calls
    _queue: list[QueueEntry]  # type: ignore[assignment]  # widens SimPy's private attribute

    def step(self) -> None:
        """Process the next entry (a bare call, or a SimPy event as :meth:`simpy.Environment.step` does)."""
        # untyped view: the length test on the head, not the type, tells which entry shape gets popped
        q: list[Any] = self._queue
        if q and len(q[0]) == 5:
            item: CallEntry = heappop(q)
            self._now = item[0]
            if item[3] is not None:
                item[3](item[4], item[2])
            return
        super().step()


class World:
    """The shared context of a simulation.

    Args:
        seed: the run's seed; every component stream derives from it.
        window: metrics time-window width in simulated seconds.
        warmup: requests finishing before this time are left out of totals.
        rel_err: relative error of latency quantiles.
    """

    def __init__(self, seed: int = 0, window: float = 1.0, warmup: float = 0.0, rel_err: float = 0.01) -> None:
        self.env = SimEnv()
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
        env = self.env
        at = float(until)
        if at <= env._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        rec.scrape(env._now)

        def scraper(env: simpy.Environment) -> Any:
            while True:
                yield env.timeout(rec.window)
                rec.scrape(env.now)

        env.process(scraper(env))
        q = env._queue
        # the stop mark sorts where SimPy's own ``until`` event would: first among entries at ``at``
        heappush(q, (at, 0, next(env._eid), None, None))
        base_step = simpy.Environment.step
        # Environment.run's loop, inlined: bare calls and Steps are dispatched here, other events by SimPy
        while True:
            item = heappop(q)
            if len(item) == 5:
                env._now = item[0]
                fn = item[3]
                if fn is None:
                    break
                fn(item[4], item[2])
                continue
            ev = item[3]
            if ev.__class__ is Step:
                env._now = item[0]
                ev.callbacks[0](ev)
                continue
            heappush(q, item)
            base_step(env)
        rec.finish(env._now)
