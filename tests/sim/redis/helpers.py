"""Small builders for the Redis tests: a world with an app, a server and a client; commands at chosen times."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from simcache.sim.redis import Redis, RedisServer
from simcache.sim.world import World


def world(latency: str = "const:0.001", service: str = "const:0.0001", seed: int = 0,
          **server: Any) -> tuple[World, RedisServer, Redis]:
    """A world with nodes app and redis, a server and a client of it on app."""
    w = World(seed)
    w.network.add_link("app", "redis", latency)
    srv = RedisServer(w, "redis", service=service, **server)
    return w, srv, Redis(w, "app", srv)


def run(w: World, body: Callable[[], Generator[Any, Any, Any]], until: float | None = None) -> Any:
    """Run ``body()`` as a process (until it ends, or until ``until``); its return value."""
    p = w.process(body())
    if until is None:
        w.env.run(until=p)
    else:
        w.env.run(until=until)
    return p.value if p.triggered else None


def at(srv: RedisServer, t: float, *cmd: Any) -> Any:
    """Run one command on the server directly at simulated time ``t`` (no network): its reply."""
    env = srv.env
    if t > env.now:
        env.run(until=t)
    return srv.dispatch(cmd)


def wait_until(w: World, t: float) -> Generator[Any, Any, None]:
    """Generator: sleep until simulated time ``t``."""
    if t > w.env.now:
        yield w.env.timeout(t - w.env.now)
