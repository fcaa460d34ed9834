"""Reference model: clients -> app server (in-process near cache) -> Redis (or Memcached) -> database.

Each request is a SimPy process: it crosses to the app, where the strategy
(the seed's ``CacheAside`` by default) runs with ``yield from`` at every
call to the simulated Redis and the database, and comes back.  Faults
(``--fault crash:redis@10+5``) and strategy options (``--set
strategy.ttl=60``) apply through the model runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simcache.catalog import model
from simcache.policies import policy_class, policy_names
from simcache.sim.app import App
from simcache.sim.clients import ClosedLoopClient, OpenLoopClient, Workload
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.dists import Dist, check_dists
from simcache.sim.memcached import Client as MemcacheClient
from simcache.sim.memcached import MemcachedServer
from simcache.sim.pool import BlockingConnectionPool, ConnectionPool
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.server import KEY_OVERHEAD
from simcache.sim.report import SimResult, summarize, three_tier_figures  # noqa: F401 (re-exported for the tour)
from simcache.sim.runner import System, simulate_system
from simcache.sim.seed import SeedCache, SeedMemcache
from simcache.sim.strategies import STRATEGIES, make_strategy, strategy_class, strategy_options
from simcache.sim.world import World, check_load
from simcache.store import Cache


@dataclass(frozen=True)
class ThreeTierParams:
    """Parameters of the three-tier model (times in seconds; distributions as 'kind:p1,p2')."""

    duration: float = 60.0
    rate: float = 2000.0
    arrivals: Literal["poisson", "mmpp", "diurnal"] = "poisson"
    users: int = 0
    think: str = "exp:0.05"
    n_objects: int = 100_000
    alpha: float = 0.9
    write_fraction: float = 0.05
    value_size: int = 100
    strategy: str = "cache-aside"
    app_cache: int = 1000
    app_policy: str = "lru"
    app_ttl: float = 30.0
    cache_capacity: int = 20_000
    cache_policy: str = "lru"
    cache_profile: Literal["redis", "memcached"] = "redis"
    cache_workers: int = 4
    cache_service: str = "exp:0.0001"
    cache_timeout: float = 0.0
    ttl: float = 300.0
    db_read: str = "exp:0.002"
    db_write: str = "exp:0.004"
    db_connections: int = 16
    db_timeout: float = 0.0
    query_cache: int = 0
    write_error_rate: float = 0.0
    app_cpu: str = "const:0.0002"
    client_latency: str = "lognormal:0.005,0.3"
    cache_latency: str = "lognormal:0.0003,0.3"
    db_latency: str = "lognormal:0.0005,0.3"
    loss: float = 0.0
    timeout: float = 1.0
    retries: int = 0
    cache_pool: int = 0
    db_pool: int = 0
    pool_wait: float = 0.0
    queueing: Literal["fast", "events"] = "fast"
    window: float = 1.0
    warmup: float = 0.0

    def __post_init__(self) -> None:
        for f in ("duration", "timeout", "ttl", "window", "app_ttl"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        for f in ("users", "cache_pool", "db_pool", "app_cache", "query_cache", "value_size"):
            if getattr(self, f) < 0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)!r}")
        if self.cache_profile not in ("redis", "memcached"):
            raise ValueError(f"cache_profile must be 'redis' or 'memcached', got {self.cache_profile!r}")
        if self.cache_workers < 1:
            raise ValueError(f"cache_workers must be >= 1 (memcached threads), got {self.cache_workers!r}")
        if self.cache_capacity < 1:
            raise ValueError(f"cache_capacity must be >= 1 (entries), got {self.cache_capacity!r}")
        for f in ("cache_timeout", "db_timeout", "pool_wait"):
            if getattr(self, f) < 0:
                raise ValueError(f"{f} must be >= 0 seconds (0: none), got {getattr(self, f)!r}")
        if self.users == 0 and not self.rate > 0 and self.arrivals != "mmpp":
            raise ValueError(f"rate must be > 0 requests/s, got {self.rate}")
        if self.strategy not in STRATEGIES and ":" not in self.strategy:
            raise ValueError(f"strategy must be one of {', '.join(sorted(STRATEGIES))} "
                             f"(or 'package.module:Class'), got {self.strategy!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup}")
        if self.db_connections < 1:
            raise ValueError(f"db_connections must be >= 1, got {self.db_connections!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries!r}")
        for f in ("loss", "write_fraction", "write_error_rate"):
            if not 0 <= getattr(self, f) <= 1:
                raise ValueError(f"{f} must be in [0, 1], got {getattr(self, f)!r}")
        for f in ("app_policy", "cache_policy"):
            name = getattr(self, f)
            if name in policy_names() and policy_class(name).needs_future:
                raise ValueError(f"{f}: {name!r} is an offline policy (it reads the future of a trace); a live "
                                 f"cache needs an online one such as lru")
        check_load("three-tier", self.rate if self.users == 0 else 0.0, self.duration, self.users)
        check_dists(self, "think", "cache_service", "db_read", "db_write", "app_cpu", "client_latency", "cache_latency",
                    "db_latency")


def _pool(world: World, size: int, wait: float, name: str) -> ConnectionPool:
    if size == 0:
        return ConnectionPool(world.env, name=name)
    if wait > 0:
        return BlockingConnectionPool(world.env, size, wait, name=name)
    return ConnectionPool(world.env, size, name=name)


def build(p: ThreeTierParams, seed: int, strategy_options_: dict[str, Any] | None = None) -> System:
    """Build the system (world, network, components) without running it."""
    world = World(seed, window=p.window, warmup=p.warmup)
    net = world.network
    cname = p.cache_profile  # the cache's component and node name: "redis" or "memcached"
    for n, kind in (("clients", "client"), ("app", "app"), (cname, "cache"), ("db", "db")):
        net.add_node(n, kind)
    net.add_link("clients", "app", p.client_latency, loss=p.loss)
    net.add_link("app", cname, p.cache_latency, loss=p.loss)
    net.add_link("app", "db", p.db_latency, loss=p.loss)
    db = Database(world, "db", read_service=p.db_read, write_service=p.db_write, connections=p.db_connections,
                  query_cache=p.query_cache, write_error_rate=p.write_error_rate, value_size=p.value_size,
                  queueing=p.queueing)
    cache: Any
    if p.cache_profile == "redis":
        # maxmemory for about cache_capacity entries of this workload (key text, value, per-key overhead)
        maxmemory = p.cache_capacity * (KEY_OVERHEAD + len(str(p.n_objects)) + p.value_size)
        cache = RedisServer(world, "redis", service=p.cache_service, maxmemory=maxmemory,
                            maxmemory_policy=p.cache_policy, queueing=p.queueing)
    else:
        # memcached's -m for about cache_capacity items (its item header, key, value, CRLF, CAS), at least
        # one 1 MB slab page per class it will use
        item = 48 + len(str(p.n_objects)) + 1 + p.value_size + 2 + 8
        cache = MemcachedServer(world, "memcached", service=p.cache_service, workers=p.cache_workers,
                                memory=max(p.cache_capacity * item, 4 << 20), queueing=p.queueing)
    local = Cache(p.app_policy, p.app_cache, clock=lambda: world.env.now) if p.app_cache > 0 else None
    options = {"ttl": p.ttl} if "ttl" in strategy_options(strategy_class(p.strategy)) else {}
    options.update(strategy_options_ or {})
    def factory(app: App) -> Any:
        d = DatabaseClient(world, app, db, timeout=p.db_timeout or None)
        if p.cache_profile == "redis":
            r = Redis(world, app, cache, socket_timeout=p.cache_timeout or None,
                      connection_pool=_pool(world, p.cache_pool, p.pool_wait, "app:redis-pool"))
            return make_strategy(p.strategy, SeedCache(r), d, **options)
        mc = MemcacheClient(world, app, cache, timeout=p.cache_timeout or None)
        return make_strategy(p.strategy, SeedMemcache(mc), d, **options)

    app = App(world, "app", factory, cpu=p.app_cpu, local=local, local_ttl=p.app_ttl)
    wl = Workload(p.n_objects, p.alpha, p.write_fraction, Dist("constant", float(p.value_size)))
    common: dict[str, Any] = dict(timeout=p.timeout, retries=p.retries)
    if p.users:
        client: Any = ClosedLoopClient(world, "clients", "clients", app, wl, p.users, p.think, **common)
    else:
        client = OpenLoopClient(world, "clients", "clients", app, wl, p.rate, p.arrivals,
                                mmpp=(p.rate / 4, p.rate * 2, 5.0, 2.0), diurnal=(0.5, p.duration), **common)
    client.stop_at = p.duration
    tiers = (["app"] if local is not None else []) + [cname, "db"]
    return System(world, [client], tiers, db, {"app": app, "cache": cache, "client": client})


def simulate(p: ThreeTierParams, seed: int, options: dict[str, dict[str, Any]] | None = None,
             faults: list[Any] | None = None, timeseries: bool = True) -> SimResult:
    """Run the model (with ``options["strategy"]`` and a fault schedule) and return summary plus time series."""
    return simulate_system(build(p, seed, (options or {}).get("strategy")), p.duration, faults or [], timeseries)


@model("three-tier", "clients -> app with a near cache -> Redis -> database (reference model)", ThreeTierParams,
       options=("strategy",))
def run(p: ThreeTierParams, seed: int, options: dict[str, dict[str, Any]] | None = None,
        faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, options, faults, timeseries=False).summary


#: ``simcache run three-tier --figures DIR``: latency and per-tier hit ratio over time
figures = three_tier_figures
