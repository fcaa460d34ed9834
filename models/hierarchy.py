"""The seed's cache hierarchy: browser -> CDN -> load balancer -> app cache -> distributed cache -> database.

Reads walk down until a tier holds the key and fill the tiers they missed on
the way back; writes commit at the database and invalidate the load balancer,
app and distributed caches (``invalidate``), while browsers and the CDN keep
serving their copies until max-age / TTL (see ``docs/tiers.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simcache.catalog import model
from simcache.errors import UsageError
from simcache.sim.clients import OpenLoopClient, Workload
from simcache.sim.dists import Dist
from simcache.sim.network import Network
from simcache.sim.report import SimResult, summarize
from simcache.sim.tier_report import hierarchy_figures  # noqa: F401 (re-exported for users of the model)
from simcache.sim.tiers import TierChain, TierSpec, build_chain
from simcache.sim.world import World


@dataclass(frozen=True)
class HierarchyParams:
    """Parameters of the hierarchy model (times in seconds; distributions as 'kind:p1,p2'; ttl None: no expiry).

    Each ``X_hop`` is the one-way latency from tier X to the next tier down.
    """

    duration: float = 60.0
    rate: float = 2000.0
    n_objects: int = 100_000
    alpha: float = 0.9
    write_fraction: float = 0.02
    timeout: float = 5.0
    browser_clients: int = 1000
    browser_capacity: int = 50
    browser_ttl: float | None = 60.0
    browser_policy: str = "lru"
    browser_lookup: str = "const:0.00005"
    browser_hop: str = "lognormal:0.02,0.3"
    cdn_capacity: int = 10_000
    cdn_ttl: float | None = 30.0
    cdn_policy: str = "lru"
    cdn_service: str = "exp:0.0005"
    cdn_workers: int = 64
    cdn_hop: str = "lognormal:0.03,0.3"
    lb_capacity: int = 2000
    lb_ttl: float | None = 1.0
    lb_policy: str = "lru"
    lb_service: str = "exp:0.0001"
    lb_workers: int = 8
    lb_hop: str = "const:0.0005"
    app_capacity: int = 1000
    app_ttl: float | None = 30.0
    app_policy: str = "lru"
    app_service: str = "exp:0.0005"
    app_workers: int = 16
    app_hop: str = "lognormal:0.0003,0.3"
    cache_capacity: int = 50_000
    cache_ttl: float | None = 600.0
    cache_policy: str = "lru"
    cache_profile: str = "redis"
    cache_service: str = "exp:0.0001"
    cache_workers: int = 4
    cache_hop: str = "lognormal:0.0005,0.3"
    db_read: str = "exp:0.002"
    db_write: str = "exp:0.004"
    db_connections: int = 16
    query_cache: int = 1000
    invalidate: bool = True
    window: float = 1.0
    warmup: float = 0.0

    def __post_init__(self) -> None:
        for f in ("duration", "rate", "timeout", "window"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup}")
        if not 0 <= self.write_fraction <= 1:
            raise ValueError(f"write_fraction must be in [0, 1], got {self.write_fraction}")
        if self.n_objects < 1 or self.alpha < 0:
            raise ValueError("n_objects must be >= 1 and alpha >= 0")
        for f in ("browser_lookup", "browser_hop", "cdn_service", "cdn_hop", "lb_service", "lb_hop", "app_service",
                  "app_hop", "cache_service", "cache_hop", "db_read", "db_write"):
            try:
                Dist.parse(getattr(self, f))
            except UsageError as err:
                raise ValueError(f"{f}: {err}") from None
        try:
            specs(self)
        except UsageError as err:
            raise ValueError(str(err)) from None


def specs(p: HierarchyParams) -> list[TierSpec]:
    """The chain of the seed's diagram, from the parameters."""
    inv = p.invalidate
    return [
        TierSpec("browser", "browser", p.browser_policy, p.browser_capacity, p.browser_ttl, p.browser_hop,
                 p.browser_lookup, copies=p.browser_clients),
        TierSpec("cdn", "cdn", p.cdn_policy, p.cdn_capacity, p.cdn_ttl, p.cdn_hop, p.cdn_service, p.cdn_workers),
        TierSpec("lb", "lb", p.lb_policy, p.lb_capacity, p.lb_ttl, p.lb_hop, p.lb_service, p.lb_workers,
                 invalidate=inv),
        TierSpec("app", "app", p.app_policy, p.app_capacity, p.app_ttl, p.app_hop, p.app_service, p.app_workers,
                 invalidate=inv),
        TierSpec("redis", "distributed", p.cache_policy, p.cache_capacity, p.cache_ttl, p.cache_hop,
                 p.cache_service, p.cache_workers, profile=p.cache_profile, invalidate=inv),
        TierSpec("db", "database", capacity=p.query_cache, service=p.db_read, workers=p.db_connections,
                 write_service=p.db_write),
    ]


def build(p: HierarchyParams, seed: int) -> dict[str, Any]:
    """Build the system (world, chain, client) without running it."""
    world = World(seed, window=p.window, warmup=p.warmup)
    Network(world)
    chain: TierChain = build_chain(world, specs(p))
    wl = Workload(p.n_objects, p.alpha, p.write_fraction)
    # the browser sits on the client's machine: the client sends to the browser tier's own node
    client = OpenLoopClient(world, "clients", chain.node, chain, wl, p.rate, timeout=p.timeout)
    client.stop_at = p.duration
    return {"world": world, "chain": chain, "db": chain.db, "client": client}


def _summary(s: dict[str, Any], p: HierarchyParams) -> dict[str, Any]:
    world, chain = s["world"], s["chain"]
    out = summarize(world, p.duration, [s["client"]], [], s["db"])
    tiers = chain.summary(p.duration)
    out["tiers"] = tiers
    out["hit_ratio"] = {n: d["hit_ratio"] for n, d in tiers.items() if d["kind"] != "database"}
    out["load_per_s"] = {n: d["load_per_s"] for n, d in tiers.items()}
    out["latency_share_ms"] = {n: d["latency_share_ms"] for n, d in tiers.items()}
    out["stale_reads_by_tier"] = {n: d["stale_reads"] for n, d in tiers.items()}
    out["db_load_per_s"] = tiers["db"]["load_per_s"]
    return out


def simulate(p: HierarchyParams, seed: int) -> SimResult:
    """Run the model and return summary plus time series."""
    s = build(p, seed)
    s["world"].run(p.duration)
    return SimResult(_summary(s, p), s["world"].recorder.timeseries(), s["world"])


@model("hierarchy", "browser -> CDN -> load balancer -> app cache -> distributed cache -> database (the seed's "
       "hierarchy; stale browser/CDN copies after writes)", HierarchyParams)
def run(p: HierarchyParams, seed: int) -> dict[str, Any]:
    s = build(p, seed)
    s["world"].run(p.duration)
    return _summary(s, p)
