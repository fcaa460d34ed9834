"""Plain queueing systems (G/G/c FCFS) built from the same server, for validation against theory."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from simcache.sim.dists import Dist
from simcache.sim.rpc import call
from simcache.sim.server import Queueing, Server, command
from simcache.sim.world import World


class QueueServer(Server):
    """A server with one command, ``OP``, whose only effect is its service time."""

    @command("OP")
    def _op(self) -> str:
        return "OK"


class QueueSystem:
    """Poisson arrivals at one FCFS server with ``workers`` workers; each job is a process.

    The source and the server share a node, so a job's response time is its
    wait plus its service.

    Args:
        world: the simulation world.
        rate: arrival rate (lambda).
        service: service-time distribution.
        workers: servers (c).
        queueing: "fast" or "events" (see :mod:`simcache.sim.server`).
        keep: keep the individual response times in ``self.times``.
    """

    def __init__(self, world: World, rate: float, service: Dist | str | float, workers: int = 1,
                 queueing: Queueing = "fast", keep: bool = False) -> None:
        self.world = world
        self.env = world.env
        self.server = QueueServer(world, "queue", "queue", service, workers, queueing)
        self.rate = rate
        self._gap = Dist("exponential", 1.0 / rate).sampler(world.rng("arrivals"))
        self.keep = keep
        self.times: list[float] = []
        self.arrived = 0
        self.departed = 0
        self.stop_at = math.inf
        self.env.process(self._source())

    def _source(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            yield env.timeout(self._gap())
            if env.now >= self.stop_at:
                return
            self.arrived += 1
            env.process(self._job())

    def _job(self) -> Generator[simpy.Event, Any, None]:
        t0 = self.env.now
        yield from call(self.world, "queue", self.server, ("OP",))
        now = self.env.now
        self.departed += 1
        self.world.recorder.request(now, now - t0, "ok", "op")
        if self.keep:
            self.times.append(now - t0)
