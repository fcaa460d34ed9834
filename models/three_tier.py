"""Reference model: clients -> app server (in-process LRU) -> Redis-like cache over the network -> database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simcache.catalog import model
from simcache.errors import UsageError
from simcache.sim.clients import ClosedLoopClient, OpenLoopClient, Workload
from simcache.sim.compiled import COMPILED, simulate_compiled, unsupported
from simcache.sim.database import Database
from simcache.sim.dists import Dist
from simcache.sim.network import Network
from simcache.sim.report import SimResult, summarize, three_tier_figures  # noqa: F401 (re-exported for the tour)
from simcache.sim.servers import CacheServer, InProcessCache
from simcache.sim.strategies import STRATEGIES, make_app
from simcache.sim.world import World

#: time one in-process cache lookup costs the app (both engines)
APP_CACHE_SERVICE = "const:0.00001"


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
    strategy: str = "cache-aside"
    app_cache: int = 1000
    app_policy: str = "lru"
    cache_capacity: int = 20_000
    cache_policy: str = "lru"
    cache_profile: Literal["redis", "memcached"] = "redis"
    cache_workers: int = 4
    cache_service: str = "exp:0.0001"
    ttl: float = 300.0
    db_read: str = "exp:0.002"
    db_write: str = "exp:0.004"
    db_connections: int = 16
    query_cache: int = 0
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
    queueing: Literal["lindley", "events"] = "lindley"
    window: float = 1.0
    warmup: float = 0.0
    engine: Literal["auto", "simpy", "compiled"] = "auto"

    def __post_init__(self) -> None:
        for f in ("duration", "timeout", "ttl", "window"):
            if getattr(self, f) <= 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        if self.users < 0 or self.cache_pool < 0 or self.db_pool < 0:
            raise ValueError("users, cache_pool and db_pool must be >= 0 (0: open loop / unbounded)")
        if self.users == 0 and self.rate <= 0 and self.arrivals != "mmpp":
            raise ValueError(f"rate must be > 0 requests/s, got {self.rate}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(sorted(STRATEGIES))}, got {self.strategy!r}")
        if self.engine not in ("auto", "simpy", "compiled"):
            raise ValueError(f"engine must be 'auto', 'simpy' or 'compiled', got {self.engine!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup}")
        for f in ("think", "cache_service", "db_read", "db_write", "app_cpu", "client_latency", "cache_latency",
                  "db_latency"):
            try:
                Dist.parse(getattr(self, f))
            except UsageError as err:
                raise ValueError(f"{f}: {err}") from None


def build(p: ThreeTierParams, seed: int, strategy_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the system (world, network, components) without running it."""
    world = World(seed, window=p.window, warmup=p.warmup)
    net = Network(world)
    for n, kind in (("clients", "client"), ("app", "app"), ("redis", "cache"), ("db", "db")):
        net.add_node(n, kind)
    net.add_link("clients", "app", p.client_latency, loss=p.loss)
    net.add_link("app", "redis", p.cache_latency, loss=p.loss)
    net.add_link("app", "db", p.db_latency, loss=p.loss)
    net.add_link("redis", "db", p.db_latency, loss=p.loss)
    db = Database(world, "db", "db", p.db_read, p.db_write, p.db_connections, query_cache=p.query_cache,
                  queueing=p.queueing)
    cache = CacheServer(world, "redis", "redis", p.cache_policy, p.cache_capacity, p.cache_profile,
                        p.cache_service, p.cache_workers, queueing=p.queueing)
    local = InProcessCache(world, "app_cache", p.app_policy, p.app_cache, service=APP_CACHE_SERVICE) \
        if p.app_cache > 0 else None
    app = make_app(p.strategy, world, "app", "app", db, cache=cache, local=local, ttl=p.ttl, cpu=p.app_cpu,
                   cache_pool=(p.cache_pool, p.pool_wait) if p.cache_pool else None,
                   db_pool=(p.db_pool, p.pool_wait) if p.db_pool else None, **(strategy_options or {}))
    wl = Workload(p.n_objects, p.alpha, p.write_fraction)
    common = dict(timeout=p.timeout, retries=p.retries)
    if p.users:
        client: Any = ClosedLoopClient(world, "clients", "clients", app, wl, p.users, p.think, **common)
    else:
        client = OpenLoopClient(world, "clients", "clients", app, wl, p.rate, p.arrivals,
                                mmpp=(p.rate / 4, p.rate * 2, 5.0, 2.0), diurnal=(0.5, p.duration), **common)
    client.stop_at = p.duration
    tiers = [t for t in ("app_cache", "redis", "db") if t != "app_cache" or local is not None]
    return {"world": world, "net": net, "db": db, "cache": cache, "local": local, "app": app, "client": client,
            "tiers": tiers}


def engine_of(p: ThreeTierParams, seed: int = 0) -> str:
    """The engine that runs ``p``: "compiled" when asked for or (engine="auto") when supported and numba is on."""
    if p.engine == "simpy":
        return "simpy"
    why = unsupported(p)
    if why is None:
        return "compiled" if p.engine == "compiled" or COMPILED else "simpy"
    if p.engine == "compiled":
        build(p, seed)  # an invalid value gets the SimPy engine's own error first
        raise UsageError(f"engine=compiled does not support {why}; use engine=auto or engine=simpy")
    return "simpy"


def simulate(p: ThreeTierParams, seed: int) -> SimResult:
    """Run the model and return summary plus time series."""
    if engine_of(p, seed) == "compiled":
        result = simulate_compiled(p, seed, APP_CACHE_SERVICE)
        result.summary["engine"] = "compiled"
        return result
    s = build(p, seed)
    world = s["world"]
    world.run(p.duration)
    summary = summarize(world, p.duration, [s["client"]], s["tiers"], s["db"])
    summary["engine"] = "simpy"
    return SimResult(summary, world.recorder.timeseries(), world)


@model("three-tier", "clients -> app with in-process LRU -> Redis-like cache -> database (reference model)",
       ThreeTierParams)
def run(p: ThreeTierParams, seed: int) -> dict[str, Any]:
    if engine_of(p, seed) == "compiled":
        summary = simulate_compiled(p, seed, APP_CACHE_SERVICE, timeseries=False).summary
        summary["engine"] = "compiled"
        return summary
    s = build(p, seed)
    s["world"].run(p.duration)
    summary = summarize(s["world"], p.duration, [s["client"]], s["tiers"], s["db"])
    summary["engine"] = "simpy"
    return summary
