"""Plain queueing systems (G/G/c FCFS) built from the same parts, for validation against theory."""

from __future__ import annotations

import math
from typing import Any

from simpy.events import Timeout

from simcache.sim.core import Request, call
from simcache.sim.dists import Dist
from simcache.sim.network import Network
from simcache.sim.servers import Queueing, Server
from simcache.sim.world import World


class QueueSystem:
    """Poisson arrivals to one FCFS server with ``workers`` workers; records every response time.

    Args:
        world: the simulation world.
        rate: arrival rate (lambda).
        service: service-time distribution.
        workers: servers (c).
        queueing: "lindley" or "events".
        keep: keep the individual response times (``self.times``) as well as recording them.
    """

    def __init__(self, world: World, rate: float, service: Dist | str | float, workers: int = 1,
                 queueing: Queueing = "lindley", keep: bool = False) -> None:
        self.world = world
        self.env = world.env
        net = world.network or Network(world)
        net.add_node("src", "client")
        self.server = Server(world, "queue", "src", service, workers, queueing)
        self.rate = rate
        self._gap = Dist("exponential", 1.0 / rate).sampler(world.rng("arrivals"))
        self.keep = keep
        self.times: list[float] = []
        self.arrived = 0
        self.departed = 0
        self.stop_at = math.inf
        ev = Timeout(self.env, self._gap())
        ev.callbacks.append(self._arrive)

    def _arrive(self, ev: Any) -> None:
        now = self.env._now
        if now >= self.stop_at:
            return
        nxt = Timeout(self.env, self._gap())
        nxt.callbacks.append(self._arrive)
        self.arrived += 1
        req = Request(self.arrived, None, "op", 0, now, math.inf, self)  # type: ignore[arg-type]
        call(self.world, req, "src", self.server, "op", self._done)

    def _done(self, req: Request) -> None:
        now = self.env._now
        self.departed += 1
        r = now - req.t0
        self.world.recorder.request(now, r, "ok", "op")
        if self.keep:
            self.times.append(r)

    def on_timeout(self, req: Request) -> None:  # pragma: no cover - no deadline
        pass
