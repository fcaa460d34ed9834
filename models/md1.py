"""M/D/1 queue, validated against Pollaczek-Khinchine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simcache.catalog import model
from simcache.sim.queueing import QueueSystem
from simcache.sim.world import World, check_load


@dataclass(frozen=True)
class MD1Params:
    """Arrival rate lambda, deterministic service time 1/mu."""

    arrival_rate: float = 0.8
    service_rate: float = 1.0
    duration: float = 100_000.0
    warmup: float = 1000.0
    queueing: Literal["fast", "events"] = "fast"

    def __post_init__(self) -> None:
        if self.arrival_rate <= 0 or self.service_rate <= 0:
            raise ValueError("arrival_rate and service_rate must be > 0")
        if self.duration <= 0 or not 0 <= self.warmup < self.duration:
            raise ValueError("need duration > 0 and 0 <= warmup < duration")
        check_load("md1", self.arrival_rate, self.duration)


def md1_response(lam: float, mu: float) -> float:
    """Pollaczek-Khinchine mean response time with deterministic service."""
    rho = lam / mu
    return 1 / mu + rho / (2 * mu * (1 - rho)) if rho < 1 else float("inf")


@model("md1", "M/D/1 queue (validation: Pollaczek-Khinchine mean response)", MD1Params)
def run(p: MD1Params, seed: int) -> dict[str, Any]:
    from simcache_models.mm1 import queue_summary  # type: ignore[import-not-found]

    world = World(seed, window=p.duration / 50, warmup=p.warmup)
    q = QueueSystem(world, p.arrival_rate, f"const:{1 / p.service_rate}", 1, p.queueing)
    world.run(p.duration)
    return queue_summary(world, q, p.duration, md1_response(p.arrival_rate, p.service_rate))
