"""The seed's cache hierarchy: browser -> CDN -> load balancer -> app cache -> distributed cache -> database.

Each request is a SimPy process walking down the chain (:mod:`simcache.sim.tiers`) until a tier holds the
key, filling the tiers it missed on the way back.  The app tier is an :class:`~simcache.sim.app.App` with a
near cache, running the strategy (the seed's ``CacheAside`` by default) over Redis and the database.  Writes
commit at the database and invalidate the load balancer (``lb_invalidate``), the app's near cache and, with
cache-aside, Redis; browsers and the CDN serve their copies until max-age / TTL (see ``docs/tiers.md``).
Faults (``--fault crash:cdn@10+5``) and strategy options (``--set strategy.ttl=60``) apply through the
model runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from simcache.catalog import model
from simcache.errors import UsageError
from simcache.policies import policy_class, policy_names
from simcache.sim.app import App
from simcache.sim.clients import OpenLoopClient, Workload
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.dists import Dist, check_dists
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.server import KEY_OVERHEAD, MAXMEMORY_POLICIES
from simcache.sim.report import SimResult
from simcache.sim.runner import System, simulate_system
from simcache.sim.seed import SeedCache
from simcache.sim.strategies import STRATEGIES, make_strategy, strategy_class, strategy_options
from simcache.sim.tier_report import hierarchy_figures  # noqa: F401 (re-exported for users of the model)
from simcache.sim.tiers import Browsers, ProxyCache, check_count, check_policy, check_ttl, tier_table
from simcache.sim.world import World, check_load
from simcache.store import Cache

#: tier name -> kind, top to bottom
TIERS = {"browser": "browser", "cdn": "cdn", "lb": "lb", "app": "app", "redis": "distributed", "db": "database"}


@dataclass(frozen=True)
class HierarchyParams:
    """Parameters of the hierarchy model (times in seconds; distributions as 'kind:p1,p2'; a ttl of None: no expiry).

    Each ``X_hop`` is the one-way latency from tier X to the next one down (``app_hop``: app to Redis,
    ``db_hop``: app to database).  The TTLs grow down the chain, so that each tier catches what expired
    above it (see docs/tiers.md: upper tiers filter the stream lower tiers see).
    """

    duration: float = 60.0
    rate: float = 2000.0
    n_objects: int = 100_000
    alpha: float = 0.9
    write_fraction: float = 0.02
    value_size: int = 100
    timeout: float = 5.0
    retries: int = 0
    browser_clients: int = 1000
    browser_capacity: int = 50
    browser_ttl: float | None = 60.0
    browser_policy: str = "lru"
    browser_lookup: str = "const:0.00005"
    browser_hop: str = "lognormal:0.02,0.3"
    cdn_capacity: int = 10_000
    cdn_ttl: float | None = 5.0
    cdn_policy: str = "lru"
    cdn_service: str = "exp:0.0005"
    cdn_workers: int = 64
    cdn_hop: str = "lognormal:0.03,0.3"
    lb_capacity: int = 20_000
    lb_ttl: float | None = 15.0
    lb_policy: str = "lru"
    lb_service: str = "exp:0.0001"
    lb_workers: int = 8
    lb_hop: str = "const:0.0005"
    lb_invalidate: bool = True
    app_capacity: int = 20_000
    app_ttl: float | None = 30.0
    app_policy: str = "lru"
    app_service: str = "const:0.0005"
    app_lookup: str = "const:0.00001"
    app_hop: str = "lognormal:0.0003,0.3"
    strategy: str = "cache-aside"
    cache_capacity: int = 50_000
    cache_ttl: float = 600.0
    cache_policy: str = "lru"
    cache_service: str = "exp:0.0001"
    cache_timeout: float = 0.0
    db_hop: str = "lognormal:0.0005,0.3"
    db_read: str = "exp:0.002"
    db_write: str = "exp:0.004"
    db_connections: int = 16
    db_timeout: float = 0.0
    query_cache: int = 1000
    write_error_rate: float = 0.0
    queueing: Literal["fast", "events"] = "fast"
    window: float = 1.0
    warmup: float = 0.0

    def __post_init__(self) -> None:
        for f in ("duration", "rate", "timeout", "window", "cache_ttl"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise ValueError(f"{f} must be > 0, got {v!r}")
        for f in ("cache_timeout", "db_timeout"):
            if not getattr(self, f) >= 0:
                raise ValueError(f"{f} must be >= 0 seconds (0: none), got {getattr(self, f)!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup!r}")
        for f in ("write_fraction", "write_error_rate"):
            if not 0 <= getattr(self, f) <= 1:
                raise ValueError(f"{f} must be in [0, 1], got {getattr(self, f)!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        try:
            for f, low in (("n_objects", 1), ("browser_clients", 1), ("cdn_workers", 1), ("lb_workers", 1),
                           ("db_connections", 1), ("cache_capacity", 1), ("browser_capacity", 0),
                           ("cdn_capacity", 0), ("lb_capacity", 0), ("app_capacity", 0), ("query_cache", 0),
                           ("value_size", 0), ("retries", 0)):
                check_count("hierarchy", f, getattr(self, f), low)
            for tier in ("browser", "cdn", "lb", "app"):
                check_ttl("hierarchy", f"{tier}_ttl", getattr(self, f"{tier}_ttl"))
                check_policy("hierarchy", f"{tier}_policy", getattr(self, f"{tier}_policy"))
            if self.cache_policy not in MAXMEMORY_POLICIES:
                check_policy("hierarchy", "cache_policy (a simcache policy or a Redis maxmemory-policy)",
                             self.cache_policy)
            check_dists(self, "browser_lookup", "browser_hop", "cdn_service", "cdn_hop", "lb_service", "lb_hop",
                        "app_service", "app_lookup", "app_hop", "cache_service", "db_hop", "db_read", "db_write")
        except UsageError as err:
            raise ValueError(str(err).removeprefix("hierarchy: ")) from None
        if self.strategy not in STRATEGIES and ":" not in self.strategy:
            raise ValueError(f"strategy must be one of {', '.join(sorted(STRATEGIES))} "
                             f"(or 'package.module:Class'), got {self.strategy!r}")
        for f in ("browser_policy", "cdn_policy", "lb_policy", "app_policy", "cache_policy"):
            name = getattr(self, f)
            if name in policy_names() and policy_class(name).needs_future:
                raise ValueError(f"{f}: {name!r} is an offline policy (it reads the future of a trace); a live "
                                 f"cache needs an online one such as lru")
        check_load("hierarchy", self.rate, self.duration, self.browser_clients)


def build(p: HierarchyParams, seed: int, strategy_options_: dict[str, Any] | None = None) -> System:
    """Build the system (world, network, tiers, client) without running it."""
    world = World(seed, window=p.window, warmup=p.warmup)
    net = world.network
    for n, kind in (("clients", "client"), ("cdn", "cdn"), ("lb", "lb"), ("app", "app"), ("redis", "cache"),
                    ("db", "db")):
        net.add_node(n, kind)
    net.add_link("clients", "cdn", p.browser_hop)
    net.add_link("cdn", "lb", p.cdn_hop)
    net.add_link("lb", "app", p.lb_hop)
    net.add_link("app", "redis", p.app_hop)
    net.add_link("app", "db", p.db_hop)
    db = Database(world, "db", read_service=p.db_read, write_service=p.db_write, connections=p.db_connections,
                  query_cache=p.query_cache, write_error_rate=p.write_error_rate, value_size=p.value_size,
                  queueing=p.queueing)
    # maxmemory for about cache_capacity entries of this workload (key text, value, per-key overhead)
    maxmemory = p.cache_capacity * (KEY_OVERHEAD + len(str(p.n_objects)) + p.value_size)
    redis = RedisServer(world, "redis", service=p.cache_service, maxmemory=maxmemory,
                        maxmemory_policy=p.cache_policy, queueing=p.queueing)
    options = {"ttl": p.cache_ttl} if "ttl" in strategy_options(strategy_class(p.strategy)) else {}
    options.update(strategy_options_ or {})

    def factory(app: App) -> Any:
        r = Redis(world, app, redis, socket_timeout=p.cache_timeout or None)
        d = DatabaseClient(world, app, db, timeout=p.db_timeout or None)
        return make_strategy(p.strategy, SeedCache(r), d, **options)

    local = Cache(p.app_policy, p.app_capacity, clock=lambda: world.env.now) if p.app_capacity else None
    app = App(world, "app", factory, cpu=p.app_service, local=local, local_ttl=p.app_ttl, local_lookup=p.app_lookup)
    lb = ProxyCache(world, "lb", app, p.lb_capacity, p.lb_ttl, p.lb_policy, p.lb_service, p.lb_workers,
                    invalidate=p.lb_invalidate, queueing=p.queueing)
    # the origin cannot purge a CDN here: it serves its copy until its TTL
    cdn = ProxyCache(world, "cdn", lb, p.cdn_capacity, p.cdn_ttl, p.cdn_policy, p.cdn_service, p.cdn_workers,
                     invalidate=False, queueing=p.queueing)
    browsers = Browsers(world, "browser", "clients", cdn, p.browser_clients, p.browser_capacity, p.browser_ttl,
                        p.browser_policy, p.browser_lookup)
    wl = Workload(p.n_objects, p.alpha, p.write_fraction, Dist("constant", float(p.value_size)))
    # the browsers stand where an app would: the client only needs their serve(...)
    client = OpenLoopClient(world, "clients", "clients", cast(App, browsers), wl, p.rate, timeout=p.timeout,
                            retries=p.retries)
    client.stop_at = p.duration
    return System(world, [client], list(TIERS), db,
                  {"browser": browsers, "cdn": cdn, "lb": lb, "app": app, "redis": redis, "db": db, "client": client})


def summary_of(result: SimResult, duration: float) -> dict[str, Any]:
    """The standard system summary with the chain's per-tier table (kind, hit ratio, lookups, load, serves)."""
    s = result.summary
    assert result.world is not None
    tiers = tier_table(result.world, duration, TIERS)
    s["tiers"] = tiers
    s["hit_ratio"] = {n: d["hit_ratio"] for n, d in tiers.items() if "hit_ratio" in d}
    s["load_per_s"] = {n: d["load_per_s"] for n, d in tiers.items()}
    s["stale_reads_by_tier"] = {n: d["stale_reads"] for n, d in tiers.items()}
    s["concurrent_reads_by_tier"] = {n: d["concurrent_reads"] for n, d in tiers.items()}
    s["db_load_per_s"] = tiers["db"]["load_per_s"]
    return s


def simulate(p: HierarchyParams, seed: int, options: dict[str, dict[str, Any]] | None = None,
             faults: list[Any] | None = None, timeseries: bool = True) -> SimResult:
    """Run the model (with ``options["strategy"]`` and a fault schedule) and return summary plus time series."""
    result = simulate_system(build(p, seed, (options or {}).get("strategy")), p.duration, faults or [], timeseries)
    summary_of(result, p.duration)
    return result


@model("hierarchy", "browser -> CDN -> load balancer -> app cache -> distributed cache -> database (the seed's "
       "hierarchy; stale browser/CDN copies after writes)", HierarchyParams, options=("strategy",))
def run(p: HierarchyParams, seed: int, options: dict[str, dict[str, Any]] | None = None,
        faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, options, faults, timeseries=False).summary


#: ``simcache run hierarchy --figures DIR``: per-tier hit ratio, load and reads served
figures = hierarchy_figures
