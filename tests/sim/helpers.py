"""A small scripted system for tests: one app, a networked cache, a database, a client issuing chosen requests."""

from __future__ import annotations

from typing import Any

from simcache.sim.clients import Client, Workload
from simcache.sim.core import Request
from simcache.sim.database import Database
from simcache.sim.network import Network
from simcache.sim.servers import CacheServer, InProcessCache
from simcache.sim.strategies import make_app
from simcache.sim.world import World


class Scripted(Client):
    """A client whose requests are chosen by the test; it keeps every outcome."""

    def __init__(self, world: World, app: Any, timeout: float = 1.0, retries: int = 0) -> None:
        super().__init__(world, "client", "client", app, Workload(10, 0.0, 0.0), timeout=timeout, retries=retries)
        self.outcomes: list[tuple[int, str, str, float, str, int]] = []  # rid, op, outcome, t_end, served_by, wid

    def at(self, t: float, key: Any, op: str) -> None:
        """Issue ``op`` on ``key`` at time ``t`` (it reaches the app after the client link delay)."""

        def go(_: Any) -> None:
            self._rid += 1
            self.issued += 1
            d = self.world.network.delay(self.node, self.app.node) or 0.0
            rid = self._rid
            self.world.at(d, lambda _e: self._send(t, key, op, 1, rid, t, 0, -1))

        self.world.at(t - self.world.env.now, go)

    def reply(self, req: Request, t_app: float, outcome: str, detail: str) -> None:
        self.outcomes.append((req.rid, req.op, outcome if outcome == "ok" else detail, t_app, req.served_by,
                              req.wid))
        super().reply(req, t_app, outcome, detail)

    def on_timeout(self, req: Request) -> None:
        self.outcomes.append((req.rid, req.op, "timeout", self.world.env.now, "", 0))
        super().on_timeout(req)

    def result(self, rid: int) -> tuple[int, str, str, float, str, int]:
        return [o for o in self.outcomes if o[0] == rid][-1]


def system(strategy: str = "cache-aside", seed: int = 0, local: int = 0, ttl: float | None = 3600.0,
           latency: str = "const:0.001", cache_service: str = "const:0.0001", db_read: str = "const:0.002",
           db_write: str = "const:0.004", db_connections: int = 4, timeout: float = 1.0,
           cache_pool: tuple[int, float] | None = None, db_error: float = 0.0, **opts: Any) -> dict[str, Any]:
    """Build a deterministic little system (constant delays unless told otherwise)."""
    world = World(seed, window=0.5)
    net = Network(world)
    for a, b in (("client", "app"), ("app", "redis"), ("app", "db"), ("redis", "db")):
        net.add_link(a, b, latency)
    db = Database(world, "db", "db", db_read, db_write, db_connections, write_error_rate=db_error)
    cache = CacheServer(world, "redis", "redis", "lru", 100, "redis", cache_service)
    loc = InProcessCache(world, "app_cache", "lru", local) if local else None
    app = make_app(strategy, world, "app", "app", db, cache=cache, local=loc, ttl=ttl, cache_pool=cache_pool, **opts)
    client = Scripted(world, app, timeout=timeout)
    return {"world": world, "net": net, "db": db, "cache": cache, "local": loc, "app": app, "client": client}
