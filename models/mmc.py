"""M/M/c queue, validated against Erlang C."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from simcache.catalog import model
from simcache.sim.queueing import QueueSystem
from simcache.sim.world import World, check_load


@dataclass(frozen=True)
class MMcParams:
    """Arrival rate lambda, per-server service rate mu, servers c."""

    arrival_rate: float = 3.0
    service_rate: float = 1.0
    servers: int = 4
    duration: float = 50_000.0
    warmup: float = 500.0
    queueing: Literal["fast", "events"] = "fast"

    def __post_init__(self) -> None:
        if self.arrival_rate <= 0 or self.service_rate <= 0 or self.servers < 1:
            raise ValueError("need arrival_rate > 0, service_rate > 0, servers >= 1")
        if self.duration <= 0 or not 0 <= self.warmup < self.duration:
            raise ValueError("need duration > 0 and 0 <= warmup < duration")
        check_load("mmc", self.arrival_rate, self.duration)


def erlang_c_response(lam: float, mu: float, c: int) -> float:
    """Mean response time of M/M/c (Erlang C waiting probability)."""
    a = lam / mu
    rho = a / c
    if rho >= 1:
        return math.inf
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) / (1 - rho)
    pw = top / (s + top)
    return pw / (c * mu - lam) + 1 / mu


@model("mmc", "M/M/c queue (validation: Erlang C mean response)", MMcParams)
def run(p: MMcParams, seed: int) -> dict[str, Any]:
    from simcache_models.mm1 import queue_summary  # type: ignore[import-not-found]

    world = World(seed, window=p.duration / 50, warmup=p.warmup)
    q = QueueSystem(world, p.arrival_rate, f"exp:{1 / p.service_rate}", p.servers, p.queueing)
    world.run(p.duration)
    return queue_summary(world, q, p.duration, erlang_c_response(p.arrival_rate, p.service_rate, p.servers))
