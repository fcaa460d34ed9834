"""Consistency model: reads and writes over a key space, cache-aside, and a choice of invalidation.

Clients -> apps (``apps`` of them) -> Redis and the database.  Readers and
writers are two open-loop Poisson clients (``read_rate``, ``write_rate``)
over ``users x fields`` keys named ``user:{id}`` (field ``profile``) and
``user:{id}:{field}``, ranked by a Zipf(``alpha``) popularity.  Reads are the
seed's ``CacheAside.get`` (or its versioned / leased variant); writes
commit to the database and then invalidate as ``invalidation`` says (see
:mod:`simcache.sim.consistency`).  ``bus`` sends ``'user_updated'`` events
over an event bus with delay distribution ``delay`` and loss probability
``loss``, and the seed's ``EventBasedCache`` on every app deletes the three
keys it lists — a field not on its list (``settings`` by default) stays
stale until its TTL.

A share ``absent_fraction`` of reads asks for keys the database does not
have (``absent:{i}``), defended by ``negative`` = ``none`` (every one
reaches the database), ``cache`` (negative caching for ``negative_ttl``) or
``bloom`` (a Bloom filter of the existing keys on each app).
``ttl_tracker`` makes every plain fill the seed's ``TTLCache.set`` (SETEX plus
the ``ttl_tracker`` sorted set), whose memory shows in Redis's ``used_memory``.

Summary: the usual (latency, DB load, stale/concurrent reads) plus
``stale_sets_per_write``, ``stale_read_ratio``, ``stale_time_fraction``,
``stale_age_ms`` (age of stale reads: p50, p90, p99, max),
``stale_episode_ms`` (how long a cached copy stays stale), and, for
``delete``, ``stale_sets_per_write_estimate`` (the first-order estimate of
:func:`~simcache.sim.consistency.stale_set_estimate_mc`).  Faults:
components ``app0``..., ``redis``, ``db``, ``bus``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simcache.catalog import model
from simcache.sim.app import App
from simcache.sim.clients import OpenLoopClient, Workload
from simcache.sim.consistency import (
    AuditedRedisServer,
    BloomFilter,
    BusInvalidated,
    EventBus,
    PenetrationGuard,
    SparseDatabaseClient,
    StalenessAudit,
    TTLCache,
    consistency_figures,
    preload_scripts,
    stale_set_estimate_mc,
)
from simcache.sim.database import Database
from simcache.sim.dists import Dist, check_dists, uniform_sampler
from simcache.sim.redis import Redis
from simcache.sim.report import SimResult
from simcache.sim.runner import System, simulate_system
from simcache.sim.seed import CacheAside, SeedCache
from simcache.sim.simtime import HostClock
from simcache.sim.strategies import WriteAround, WriteThroughDBFirst, make_strategy
from simcache.sim.world import World

Invalidation = Literal["none", "delete", "update", "double-delete", "versioned", "lease", "bus"]
INVALIDATIONS: tuple[str, ...] = ("none", "delete", "update", "double-delete", "versioned", "lease", "bus")
#: invalidation mode -> the strategy it runs (bus: built with the app's bus endpoint)
STRATEGY_OF: dict[str, Any] = {"none": WriteAround, "delete": CacheAside, "update": WriteThroughDBFirst,
                               "double-delete": "cache-aside-double-delete", "versioned": "cache-aside-versioned",
                               "lease": "cache-aside-lease", "bus": BusInvalidated}


@dataclass(frozen=True)
class ConsistencyParams:
    """Parameters of the consistency model (times in seconds; distributions as 'kind:p1,p2')."""

    duration: float = 60.0
    warmup: float = 5.0
    invalidation: Invalidation = "delete"
    users: int = 100
    fields: str = "profile,posts,friends,settings"
    alpha: float = 0.0
    read_rate: float = 1000.0
    write_rate: float = 200.0
    value_size: int = 100
    ttl: float = 300.0
    apps: int = 2
    db_read: str = "exp:0.03"
    db_write: str = "exp:0.003"
    db_connections: int = 64
    client_latency: str = "const:0.001"
    cache_latency: str = "const:0.0005"
    db_latency: str = "const:0.0005"
    cache_service: str = "const:0.00005"
    app_cpu: str = "const:0"
    timeout: float = 1.0
    delay: str = "exp:0.01"
    loss: float = 0.0
    double_delete_delay: float = 0.5
    lease_ttl: float = 10.0
    absent_fraction: float = 0.0
    absent_keys: int = 1000
    negative: Literal["none", "cache", "bloom"] = "none"
    negative_ttl: float = 5.0
    bloom_bits_per_key: float = 10.0
    bloom_hashes: int = 0
    ttl_tracker: bool = False
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "ttl", "timeout", "window", "double_delete_delay", "lease_ttl", "negative_ttl",
                  "bloom_bits_per_key"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup!r}")
        if self.invalidation not in INVALIDATIONS:
            raise ValueError(f"invalidation must be one of {', '.join(INVALIDATIONS)}, got {self.invalidation!r}")
        if self.negative not in ("none", "cache", "bloom"):
            raise ValueError(f"negative must be one of none, cache, bloom, got {self.negative!r}")
        for f in ("users", "apps", "db_connections", "absent_keys"):
            if int(getattr(self, f)) != getattr(self, f) or getattr(self, f) < 1:
                raise ValueError(f"{f} must be an integer >= 1, got {getattr(self, f)!r}")
        for f in ("value_size", "bloom_hashes"):
            if int(getattr(self, f)) != getattr(self, f) or getattr(self, f) < 0:
                raise ValueError(f"{f} must be an integer >= 0, got {getattr(self, f)!r}")
        if not self.read_rate > 0:
            raise ValueError(f"read_rate must be > 0 requests/s, got {self.read_rate!r}")
        if not self.write_rate >= 0:
            raise ValueError(f"write_rate must be >= 0 requests/s (0: no writes), got {self.write_rate!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        for f in ("loss", "absent_fraction"):
            if not 0 <= getattr(self, f) <= 1:
                raise ValueError(f"{f} must be in [0, 1], got {getattr(self, f)!r}")
        names = [x.strip() for x in self.fields.split(",")]
        if not names or any(not x or ":" in x or "#" in x for x in names) or len(set(names)) != len(names):
            raise ValueError(f"fields must be distinct names without ':' or '#', separated by ',', got {self.fields!r}")
        check_dists(self, "db_read", "db_write", "client_latency", "cache_latency", "db_latency", "cache_service", "app_cpu",
                    "delay")

    @property
    def field_names(self) -> list[str]:
        return [x.strip() for x in self.fields.split(",")]


def key_names(users: int, field_names: list[str]) -> list[str]:
    """The key space, most popular first: user 0's fields, then user 1's..."""
    out = []
    for u in range(users):
        for f in field_names:
            out.append(f"user:{u}" if f == "profile" else f"user:{u}:{f}")
    return out


def is_absent(key: Any) -> bool:
    """Whether the database lacks ``key`` (the model's absent keys are named ``absent:{i}``)."""
    return isinstance(key, str) and key.startswith("absent:")


class NamedDraws:
    """The clients draw key ranks; this names them, and sends a share of reads to absent keys.

    Args:
        inner: the client's draws (``next() -> (rank, op, size)``).
        names: rank -> key name.
        absent_fraction: share of reads that go to ``absent:{i}``, i uniform in [0, absent_keys).
        absent_keys: how many absent keys there are.
        world: the world (for the stream ``NAME:absent``).
        name: the client's name.
    """

    def __init__(self, inner: Any, names: list[str], absent_fraction: float, absent_keys: int, world: World,
                 name: str) -> None:
        self.inner = inner
        self.names = names
        self.absent_fraction = absent_fraction
        self.absent_keys = absent_keys
        self._u = uniform_sampler(world.rng(f"{name}:absent")) if absent_fraction > 0 else None

    def next(self) -> tuple[Any, str, int]:
        rank, op, size = self.inner.next()
        u = self._u
        if u is not None and op == "read" and u() < self.absent_fraction:
            return f"absent:{int(u() * self.absent_keys)}", op, size
        return self.names[rank], op, size


class TrackedCache(SeedCache):
    """The seed's cache object whose whole-second TTL fills go through the seed's ``TTLCache.set`` (SETEX + ``ttl_tracker``)."""

    def __init__(self, redis: Redis, clock: HostClock) -> None:
        super().__init__(redis)
        self.ttl_cache = TTLCache(redis, clock)

    def set(self, key: Any, value: Any, ttl: float | None = None, **kwargs: Any) -> Any:
        if ttl is None or kwargs or not float(ttl).is_integer():
            return super().set(key, value, ttl=ttl, **kwargs)
        return self.ttl_cache.set(key, value, int(ttl))


def build(p: ConsistencyParams, seed: int) -> System:
    """Build the system (not yet run)."""
    world = World(seed, window=p.window, warmup=p.warmup)
    net = world.network
    net.add_node("clients", "client")
    redis = AuditedRedisServer(world, "redis", service=p.cache_service)
    preload_scripts(redis)
    db = Database(world, "db", read_service=p.db_read, write_service=p.db_write, connections=p.db_connections,
                  value_size=p.value_size)
    names = key_names(p.users, p.field_names)
    audit = StalenessAudit(world, redis, names)
    redis.audit = audit
    bus = EventBus(world, "bus", delay=p.delay, loss=p.loss) if p.invalidation == "bus" else None
    bloom = BloomFilter.for_keys(names, p.bloom_bits_per_key, p.bloom_hashes) if p.negative == "bloom" else None
    options: dict[str, Any] = {"ttl": p.ttl}
    if p.invalidation == "double-delete":
        options["double_delete_delay"] = p.double_delete_delay
    if p.invalidation == "lease":
        options["lease_ttl"] = p.lease_ttl

    def factory(app: App) -> Any:
        d = SparseDatabaseClient(world, app, db, is_absent)
        r = Redis(world, app, redis)
        cache = TrackedCache(r, HostClock(world.env)) if p.ttl_tracker else SeedCache(r)
        if p.invalidation == "bus":
            assert bus is not None
            inner: Any = BusInvalidated(cache, d, bus.endpoint(app))
            inner.ttl = p.ttl
        else:
            inner = make_strategy(STRATEGY_OF[p.invalidation], cache, d, **options)
        if p.negative == "none":
            return inner
        return PenetrationGuard(inner, cache, p.negative, p.negative_ttl, bloom)

    apps = []
    for i in range(p.apps):
        name = f"app{i}"
        net.add_link("clients", name, p.client_latency)
        net.add_link(name, "redis", p.cache_latency)
        net.add_link(name, "db", p.db_latency)
        apps.append(App(world, name, factory, cpu=p.app_cpu))
    size = Dist("constant", float(p.value_size))
    clients = []
    readers = OpenLoopClient(world, "readers", "clients", apps, Workload(len(names), p.alpha, 0.0, size),
                             p.read_rate, timeout=p.timeout)
    # the clients draw ranks, operations and sizes; their draw object is replaced by one that names the keys
    readers.draws = NamedDraws(  # type: ignore[assignment]
        readers.draws, names, p.absent_fraction, p.absent_keys, world, "readers")
    clients.append(readers)
    if p.write_rate > 0:
        writers = OpenLoopClient(world, "writers", "clients", apps, Workload(len(names), p.alpha, 1.0, size),
                                 p.write_rate, timeout=p.timeout)
        writers.draws = NamedDraws(writers.draws, names, 0.0, 1, world, "writers")  # type: ignore[assignment]
        clients.append(writers)
    for c in clients:
        c.stop_at = p.duration
    return System(world, clients, ["redis", "db"], db,
                  {"apps": apps, "redis": redis, "db": db, "audit": audit, "bus": bus, "bloom": bloom,
                   "keys": names})


def consistency_summary(p: ConsistencyParams, system: System) -> dict[str, Any]:
    """The model's own summary fields (see the module docstring)."""
    world = system.world
    rec = world.recorder
    audit: StalenessAudit = system.parts["audit"]
    db_writes = int(rec.delta("db").get("writes", 0))
    out: dict[str, Any] = {"invalidation": p.invalidation, "keys": audit.n_keys, "window": p.window}
    out.update(audit.summary(p.duration, db_writes))
    judged = sum(v for (comp, metric), v in rec.totals.items() if metric == "reads_served")
    stale = rec.total("client", "stale_reads")
    out["reads_judged"] = int(judged)
    out["stale_read_ratio"] = stale / judged if judged else 0.0
    h = rec.stale_age
    out["stale_age_ms"] = ({"count": h.total, **{f"p{round(q * 100)}": h.quantile(q) * 1000 for q in (0.5, 0.9, 0.99)},
                            "max": h.max * 1000} if h.total else {"count": 0})
    if p.invalidation == "delete" and p.write_rate > 0:
        n = audit.n_keys
        out["stale_sets_per_write_estimate"] = (
            stale_set_estimate_mc(p.read_rate * (1 - p.absent_fraction) / n, p.write_rate / n, p.db_read,
                                  p.db_write, p.db_latency, p.cache_latency, p.cache_service)
            if p.alpha == 0 else None)  # per-key rates differ under Zipf: the estimate is per key
    if p.absent_fraction > 0:
        out["absent_reads"] = int(rec.total("client", "empty_reads"))
        out["absent_db_reads"] = int(rec.total("penetration", "absent_db_reads"))
        bloom = system.parts["bloom"]
        if bloom is not None:
            out["bloom_false_positive_rate"] = bloom.false_positive_rate()
    bus: EventBus | None = system.parts["bus"]
    if bus is not None:
        c = rec.delta("bus")
        out["bus"] = {k: int(c.get(k, 0)) for k in ("published", "delivered", "lost", "reordered", "dropped",
                                                     "handler_errors")}
    redis = system.parts["redis"]
    out["redis_used_memory"] = int(redis.used_memory)
    if p.ttl_tracker:
        z = redis.data.get(b"ttl_tracker")
        out["ttl_tracker_entries"] = len(z.value) if z is not None else 0
    return out


def simulate(p: ConsistencyParams, seed: int, faults: list[Any] | None = None, timeseries: bool = True) -> SimResult:
    """Run the model (with a fault schedule) and return the summary and the time series."""
    system = build(p, seed)
    result = simulate_system(system, p.duration, faults or [], timeseries=False)
    system.parts["audit"].finish(system.world.now)
    result.summary.update(consistency_summary(p, system))
    if timeseries:
        result.timeseries = system.world.recorder.timeseries()
    return result


def compare(p: ConsistencyParams, seed: int = 0, modes: tuple[str, ...] = INVALIDATIONS,
            faults: list[Any] | None = None) -> dict[str, SimResult]:
    """Run the model once per invalidation mode (same seed and parameters otherwise)."""
    values = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    return {m: simulate(ConsistencyParams(**{**values, "invalidation": m}), seed, faults) for m in modes}


@model("consistency", "reads and writes with cache-aside: stale sets, stale reads and stale time per invalidation "
       "(none|delete|update|double-delete|versioned|lease|bus)", ConsistencyParams)
def run(p: ConsistencyParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults, timeseries=False).summary


def figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """``simcache run consistency --figures DIR``: stale reads over time, and the run's staleness measures."""
    return consistency_figures({str(result.summary.get("invalidation", "run")): result}, out_dir)
