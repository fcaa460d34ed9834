"""M/M/1 queue, validated against the mean response time 1/(mu - lambda)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simcache.catalog import model
from simcache.sim.queueing import QueueSystem
from simcache.sim.world import World, check_load


@dataclass(frozen=True)
class MM1Params:
    """Arrival rate lambda, service rate mu, simulated time, queueing implementation."""

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
        check_load("mm1", self.arrival_rate, self.duration)


def queue_summary(world: World, q: QueueSystem, duration: float, theory: float | None) -> dict[str, Any]:
    """Summary of a plain queue run (times in the model's own unit, not milliseconds)."""
    lat = world.recorder.latency_summary("all", scale=1.0)
    h = world.recorder.hist("all")
    mean = h.mean() if h is not None else float("nan")
    return {"sim_requests": q.arrived, "completed": q.departed, "mean_response": mean,
            "theory_mean_response": theory, "utilization": q.server.busy_time / (q.server.workers * duration),
            "latency": lat}


@model("mm1", "M/M/1 queue (validation: mean response 1/(mu - lambda))", MM1Params)
def run(p: MM1Params, seed: int) -> dict[str, Any]:
    world = World(seed, window=p.duration / 50, warmup=p.warmup)
    q = QueueSystem(world, p.arrival_rate, f"exp:{1 / p.service_rate}", 1, p.queueing)
    world.run(p.duration)
    lam, mu = p.arrival_rate, p.service_rate
    return queue_summary(world, q, p.duration, 1 / (mu - lam) if lam < mu else None)
