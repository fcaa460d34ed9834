"""Clients offering load to a rate limiter on Redis: the seed's sorted-set log and the usual alternatives.

``clients`` app servers (``client0``...) take requests for ``keys`` keys
(users) and ask the limiter, on one Redis (``redis``), whether each may pass;
each key is offered ``offered`` requests per ``window`` in all, spread evenly
over the clients, as a Poisson stream or evenly spaced (``arrivals=uniform``,
the hand-checkable worst cases).  Each client has its own clock: offsets
spread over ``skew`` seconds, read in steps of ``resolution``.  ``abort`` is the
chance that a worker dies between a limiter's two commands (the
fixed-window-leaky counter then never expires).

Summary: ``accepted_fraction`` of the offered requests (and what an exact
sliding log would have accepted on the same arrivals,
``exact_accepted_fraction``), ``max_in_any_window`` (the most requests of one
key let through in any window of length ``window``, exact from their true
invocation times), ``false_rejects`` (rejections when fewer than ``limit``
had been let through in the trailing window), ``keys_without_ttl`` at the
end (leaked counters), and the Redis command rate.  Faults name ``client0``...
and ``redis``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import simpy

from simcache.catalog import model
from simcache.sim.dists import check_dists, uniform_sampler
from simcache.sim.locks import Host
from simcache.sim.ratelimit import (
    LIMITERS,
    WHOLE_SECOND_WINDOWS,
    CoarseClock,
    WorkerDied,
    exact_decisions,
    false_rejects,
    make_limiter,
    max_in_any_window,
    rate_limit_comparison_figure,  # noqa: F401 (the figures of this model's runs)
    rate_limit_figure,
)
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.report import SimResult
from simcache.sim.rpc import RemoteError
from simcache.sim.runner import System, simulate_system
from simcache.sim.world import World


@dataclass(frozen=True)
class RateLimitParams:
    """Parameters of the rate-limit model (times in seconds; distributions as 'kind:p1,p2')."""

    limiter: str = "seed"
    limit: int = 10
    window: float = 1.0
    offered: float = 20.0
    clients: int = 2
    keys: int = 1
    arrivals: Literal["poisson", "uniform"] = "poisson"
    duration: float = 60.0
    burst: int = 0
    skew: float = 0.0
    resolution: float = 0.0
    abort: float = 0.0
    latency: str = "const:0.0005"
    service: str = "const:0.00005"
    socket_timeout: float = 1.0

    def __post_init__(self) -> None:
        if self.limiter not in LIMITERS:
            raise ValueError(f"limiter must be one of {', '.join(LIMITERS)}, got {self.limiter!r}")
        for f in ("limit", "clients", "keys"):
            v = getattr(self, f)
            if int(v) != v or v < 1:
                raise ValueError(f"{f} must be an integer >= 1, got {v!r}")
        if not self.window > 0:
            raise ValueError(f"window must be > 0 seconds, got {self.window!r}")
        if self.limiter in WHOLE_SECOND_WINDOWS and not float(self.window).is_integer():
            raise ValueError(f"window must be whole seconds for limiter={self.limiter} (it sends EXPIRE, which takes "
                             f"whole seconds), got {self.window!r}")
        if not self.offered > 0:
            raise ValueError(f"offered must be > 0 requests per window, got {self.offered!r}")
        if self.arrivals not in ("poisson", "uniform"):
            raise ValueError(f"arrivals must be 'poisson' or 'uniform', got {self.arrivals!r}")
        if not self.duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {self.duration!r}")
        if int(self.burst) != self.burst or self.burst < 0:
            raise ValueError(f"burst must be an integer >= 0 (0: the limit), got {self.burst!r}")
        for f in ("skew", "resolution", "socket_timeout"):
            if not getattr(self, f) >= 0:
                raise ValueError(f"{f} must be >= 0 seconds, got {getattr(self, f)!r}")
        if not 0 <= self.abort <= 1:
            raise ValueError(f"abort must be a probability in [0, 1], got {self.abort!r}")
        check_dists(self, "latency", "service")


class Traffic:
    """The clients' arrivals and the decisions (the runner reads ``issued`` and ``finished``)."""

    def __init__(self, world: World, p: RateLimitParams, hosts: list[Host], server: RedisServer) -> None:
        self.world = world
        self.p = p
        self.hosts = hosts
        self.issued = 0
        self.finished = 0
        self.died = 0
        self.errors = 0
        #: per key: true invocation times of accepted and rejected requests
        self.accepted: list[list[float]] = [[] for _ in range(p.keys)]
        self.rejected: list[list[float]] = [[] for _ in range(p.keys)]
        #: per key: invocation times of every request issued
        self.offered: list[list[float]] = [[] for _ in range(p.keys)]
        timeout = p.socket_timeout or None
        self.limiters = {}
        for h in hosts:
            coin = uniform_sampler(world.rng(f"{h.name}:abort"))
            die = (lambda coin=coin: coin() < p.abort) if p.abort > 0 else None
            r = Redis(world, h, server, socket_timeout=timeout)
            self.limiters[h.name] = make_limiter(p.limiter, r, p.limit, p.window, h.clock, name=h.name,
                                                 burst=p.burst, die=die)

    def start(self) -> None:
        for i, h in enumerate(self.hosts):
            h.run(partial(self.arrivals, i, h))

    def arrivals(self, i: int, host: Host) -> Generator[simpy.Event, Any, None]:
        p = self.p
        env = self.world.env
        rate = p.offered * p.keys / p.window / p.clients  # this client's requests per second
        rng = self.world.rng(f"{host.name}:arrivals:{host.crashes}")
        k = 0
        if p.arrivals == "uniform":
            gap = 1.0 / rate
            t = i * gap / p.clients  # the clients interleave evenly
            base = env.now
            while True:
                t_next = base + t + k * gap
                if t_next >= p.duration:
                    return
                if t_next > env.now:
                    yield env.timeout(t_next - env.now)
                host.spawn(self.request(host, k % p.keys))
                k += 1
        while True:
            t_next = env.now + float(rng.exponential(1.0 / rate))
            if t_next >= p.duration:
                return
            yield env.timeout(t_next - env.now)
            host.spawn(self.request(host, int(rng.integers(p.keys))))

    def request(self, host: Host, key: int) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        rec = self.world.recorder
        t0 = env.now
        self.issued += 1
        self.offered[key].append(t0)
        try:
            allowed = yield from self.limiters[host.name].is_allowed(f"rate:{key}")
        except WorkerDied:
            self.died += 1
            rec.count("limiter", "died", env.now)
            return
        except RemoteError as err:
            self.errors += 1
            rec.request(env.now, env.now - t0, "error", "limit", type(err).__name__)
            return
        self.finished += 1
        rec.request(env.now, env.now - t0, "ok", "limit")
        if allowed:
            self.accepted[key].append(t0)
            rec.count("limiter", "accepted", t0)
        else:
            self.rejected[key].append(t0)
            rec.count("limiter", "rejected", t0)


def build(p: RateLimitParams, seed: int) -> System:
    """Build the system (clients with their clocks, one Redis) without running it."""
    world = World(seed, window=p.window)
    server = RedisServer(world, "redis", service=p.service)
    hosts = []
    for i in range(p.clients):
        offset = p.skew * (i / (p.clients - 1) - 0.5) if p.clients > 1 else 0.0
        h = Host(world, f"client{i}", clock=CoarseClock(world.env, p.resolution, offset=offset))
        world.network.add_link(h.node, "redis", p.latency)
        hosts.append(h)
    traffic = Traffic(world, p, hosts, server)
    traffic.start()
    return System(world, [traffic], ["redis"], None, {"traffic": traffic, "redis": server})


def simulate(p: RateLimitParams, seed: int, faults: list[Any] | None = None, timeseries: bool = True) -> SimResult:
    """Run the model and return its summary (with the limiter's fields) and time series."""
    system = build(p, seed)
    result = simulate_system(system, p.duration, faults or [], timeseries)
    t: Traffic = system.parts["traffic"]
    server: RedisServer = system.parts["redis"]
    accepted = sum(len(a) for a in t.accepted)
    rejected = sum(len(r) for r in t.rejected)
    worst = max(max_in_any_window(a, p.window) for a in t.accepted)
    false = sum(false_rejects(a, r, p.limit, p.window) for a, r in zip(t.accepted, t.rejected, strict=True))
    exact = sum(int(exact_decisions(np.sort(o), p.limit, p.window).sum()) for o in t.offered)
    commands = system.world.recorder.delta(server.name).get("commands", 0.0)
    s = result.summary
    s.update({
        "limiter": p.limiter,
        "limit": p.limit,
        "window": p.window,
        "keys": p.keys,
        "offered_per_window": p.offered,
        "offered": t.issued,
        "accepted": accepted,
        "rejected": rejected,
        "died": t.died,
        "limiter_errors": t.errors,
        "accepted_fraction": accepted / t.issued if t.issued else 0.0,
        "exact_accepted_fraction": exact / t.issued if t.issued else 0.0,
        "max_in_any_window": worst,
        "max_in_any_window_ratio": worst / p.limit,
        "false_rejects": false,
        "false_reject_fraction": false / rejected if rejected else 0.0,
        "keys_without_ttl": sum(1 for k in server.data if server.expires.get(k) is None),
        "redis_commands_per_s": commands / p.duration,
    })
    return result


@model("rate-limit", "clients offering load to a Redis rate limiter (the seed's log, fixed window, sliding "
       "counter/log, token bucket): accepted fraction, most in any window, false rejects", RateLimitParams)
def run(p: RateLimitParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults, timeseries=False).summary


#: ``simcache run rate-limit --figures DIR``: accepted and rejected requests per window
figures = rate_limit_figure
