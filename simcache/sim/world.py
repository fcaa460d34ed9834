"""The world: one SimPy environment, one seed split into named random streams, the network, the recorder.

Everything in a simulation hangs off one :class:`World`: the SimPy
``Environment`` (plain SimPy, public API only), the run's seed and the
random streams derived from it (one per purpose, by name), the
:class:`~simcache.sim.network.Network`, the metrics
:class:`~simcache.sim.metrics.Recorder`, the truth
:class:`~simcache.sim.oracle.Oracle` that versioned writes commit to, and
the components that can fail (looked up by name by fault schedules).
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simcache.errors import UsageError
from simcache.sim.metrics import Recorder

if TYPE_CHECKING:
    from simcache.sim.component import Component
    from simcache.sim.network import Network
    from simcache.sim.oracle import Oracle


#: metric windows a run may have (each is a row per metric in the time series)
MAX_WINDOWS = 1_000_000
#: requests one run may be asked to generate (rate x duration): about 3 hours of wall time at the simulator's
#: 10,000 requests per second; a run is bounded rather than left to run for ever on a typo (rate=1e12)
MAX_ARRIVALS = 100_000_000
#: concurrent clients (closed-loop users, SimPy processes of about a kilobyte each) one run may hold
MAX_CLIENTS = 1_000_000


def check_load(owner: str, rate: float, duration: float, clients: int = 0) -> None:
    """Refuse a load a run could not finish or hold: more than :data:`MAX_ARRIVALS` expected requests
    (``rate`` x ``duration``) or more than :data:`MAX_CLIENTS` clients, as one line naming the fields."""
    if rate * duration > MAX_ARRIVALS:
        raise UsageError(f"{owner}: rate x duration = {rate:g} x {duration:g} s = {rate * duration:.3g} requests; "
                         f"a run generates at most {MAX_ARRIVALS:,}")
    if clients > MAX_CLIENTS:
        raise UsageError(f"{owner}: {clients:,} clients; a run holds at most {MAX_CLIENTS:,}")


class World:
    """The shared context of a simulation.

    Args:
        seed: the run's seed; every random stream derives from it.
        window: width of a metrics time window, in simulated seconds.
        warmup: events before this time are left out of every total (latency, outcomes, counters).
        rel_err: relative error of latency quantiles (the resolution of the streaming histograms).
    """

    def __init__(self, seed: int = 0, window: float = 1.0, warmup: float = 0.0, rel_err: float = 0.01) -> None:
        from simcache.sim.network import Network
        from simcache.sim.oracle import Oracle

        if int(seed) != seed or seed < 0:
            raise UsageError(f"seed must be an integer >= 0, got {seed!r}")
        self.env = simpy.Environment()
        self.seed = int(seed)
        self.recorder = Recorder(window, rel_err=rel_err, warmup=warmup)
        self._streams: set[str] = set()
        self._write_ids = itertools.count(1)
        self.components: dict[str, Component] = {}
        self.network: Network = Network(self)
        self.oracle: Oracle = Oracle(self)
        self.faults_applied: list[dict[str, Any]] = []
        #: process -> name of the server whose reply last carried it a value (which tier served a read)
        self.served_by: dict[simpy.Process, str] = {}

    @property
    def now(self) -> float:
        """The current simulated time (seconds)."""
        return self.env.now

    def rng(self, name: str) -> np.random.Generator:
        """The random stream named ``name`` (each name once per world).

        Streams are keyed by name (``SeedSequence(seed, spawn_key=(crc32(name),))``,
        the derivation ``SeedSequence.spawn`` uses), so adding a component or
        turning a feature on never changes another stream's draws.
        """
        if name in self._streams:
            raise ValueError(f"random stream {name!r} already taken; give each component a unique name")
        self._streams.add(name)
        key = zlib.crc32(name.encode())
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))

    def note_served(self, server: str) -> None:
        """Record that the active process's latest value came from ``server`` (remote clients call this)."""
        proc = self.env.active_process
        if proc is not None:
            self.served_by[proc] = server

    def new_write_id(self) -> int:
        """A write id unique in this world (1, 2, ...; 0 is every key's initial value)."""
        return next(self._write_ids)

    def add(self, component: Component) -> None:
        """Register a component under its (unique) name, so fault schedules can find it."""
        if component.name in self.components:
            raise UsageError(f"component name {component.name!r} is used twice")
        self.components[component.name] = component

    def component(self, name: str) -> Component:
        """The component called ``name``; an unknown name raises with the valid ones."""
        c = self.components.get(name)
        if c is None:
            raise UsageError(f"no component {name!r}; components: {', '.join(sorted(self.components)) or 'none'}")
        return c

    def process(self, gen: Generator[Any, Any, Any]) -> simpy.Process:
        """Start ``gen`` as a SimPy process."""
        return self.env.process(gen)

    def run(self, until: float) -> None:
        """Run until simulated time ``until``, scraping watched counters once per window and at the warmup."""
        at = float(until)
        if not math.isfinite(at):
            raise UsageError(f"a run must end at a finite time, got until={until!r}")
        if at <= self.env.now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        windows = (at - self.env.now) / self.recorder.window
        if windows > MAX_WINDOWS:
            raise UsageError(f"window {self.recorder.window:g} s gives {windows:,.0f} metric windows over the run; at "
                             f"most {MAX_WINDOWS:,} (a window of at least {(at - self.env.now) / MAX_WINDOWS:g} s)")
        rec = self.recorder
        rec.scrape(self.env.now)
        self.env.process(self._scraper(at))
        self.env.run(until=at)
        rec.finish(self.env.now)

    def _scraper(self, until: float) -> Generator[Any, Any, None]:
        rec = self.recorder
        env = self.env
        # the first window boundary after now (a second run() carries on from where the first stopped)
        k = math.floor(env.now / rec.window + 1e-9) + 1
        warm = rec.warmup if rec.warmup > env.now else None
        while True:
            t = k * rec.window
            if warm is not None and warm < t:
                t, warm = warm, None  # the scrape at the warmup, between two window scrapes
            else:
                if warm == t:
                    warm = None
                k += 1
            if t >= until:
                return
            yield env.timeout(t - env.now)
            rec.scrape(env.now)
