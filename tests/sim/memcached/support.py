"""Small builders for the memcached tests: a world with an app node and servers, and running one process."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from simcache.sim.memcached import Client, MemcachedServer
from simcache.sim.world import World

Gen = Generator[Any, Any, Any]


def world_with(n: int = 1, latency: str = "const:0", service: str = "const:0", **server_opts: Any
               ) -> tuple[World, list[MemcachedServer]]:
    """A world with node ``app`` linked to servers ``mc1..mcN`` (constant delays: times are exact)."""
    w = World(0)
    servers = []
    for i in range(1, n + 1):
        w.network.add_link("app", f"mc{i}", latency)
        servers.append(MemcachedServer(w, f"mc{i}", service=service, **server_opts))
    return w, servers


def client(w: World, server: MemcachedServer, **opts: Any) -> Client:
    """A client on ``app`` that waits for every reply unless told otherwise."""
    opts.setdefault("default_noreply", False)
    return Client(w, "app", server, **opts)


def run(w: World, body: Callable[[], Gen], at: float | None = None) -> Any:
    """Run ``body()`` as a process (starting at time ``at`` if given) until it ends; its return value."""

    def proc() -> Gen:
        if at is not None:
            yield w.env.timeout(at - w.env.now)
        return (yield from body())

    p = w.env.process(proc())
    return w.env.run(until=p)


def call_at(w: World, t: float, gen: Callable[[], Gen]) -> Any:
    """The value of the generator ``gen()`` run at time ``t``."""
    return run(w, gen, at=t)
