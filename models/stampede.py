"""Cache stampede: a hot key (or ``keys`` keys filled together) under Poisson load, one protection at a time.

Clients send reads at ``rate`` per second (spread at random over
``processes`` app processes, uniformly over the keys) to apps that run the
chosen protection (:mod:`simcache.sim.stampede`) against Redis, with a
recompute that is a database query of duration ``recompute``.  The keys are
filled together before the first request, so without jitter they expire
together.  Faults (``--fault crash:app0@30+5``) apply through the model
runner.

Summary (besides the standard one): ``recomputes_per_expiry`` (mean, 95 %
half-width, max, and the count of expiries), ``db_peak_rps`` (the busiest
window's database queries per second) and ``db_mean_rps``, ``latency_ms`` and
``latency_p99_peak_ms`` (the worst window's p99, the latency during an expiry),
``errors`` (a waiter that ran into Python's recursion limit counts as
``RecursionDepthError``), the extra cache load from waiting
(``wait_polls``, ``waiting_cache_commands``, ``waiting_cache_rps``,
``cache_commands_per_request``), and ``theory`` where one applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simcache.catalog import model
from simcache.sim.app import App
from simcache.sim.clients import OpenLoopClient, Workload
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.dists import Dist, check_dists
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.report import SimResult
from simcache.sim.runner import System, simulate_system
from simcache.sim.simtime import HostClock
from simcache.sim.stampede import (
    PROTECTIONS,
    MeteredCache,
    StampedeConfig,
    StampedeMeter,
    expected_recomputes_none,
    expected_recomputes_single_flight,
    expected_recomputes_xfetch,
    make_protection,
    timeline_figure,
)
from simcache.sim.world import World, check_load

ProtectionName = Literal["none", "seed-lock", "single-flight", "xfetch", "swr", "jitter", "lease"]


@dataclass(frozen=True)
class StampedeParams:
    """Parameters of the stampede model (times in seconds; distributions as 'kind:p1,p2')."""

    duration: float = 120.0
    rate: float = 1000.0
    recompute: str = "const:0.1"
    ttl: float = 10.0
    keys: int = 1
    protection: ProtectionName = "none"
    beta: float = 1.0
    processes: int = 1
    scope: Literal["process", "global"] = "process"
    jitter: float = 0.1
    stale: float = 60.0
    lease_ttl: float = 10.0
    lease_stale: bool = False
    poll: float = 0.05
    lock_ttl: float = 30.0
    prefill: bool = True
    value_size: int = 100
    db_connections: int = 10_000
    cache_service: str = "const:0.00002"
    cache_latency: str = "const:0.0005"
    db_latency: str = "const:0.0005"
    client_latency: str = "const:0.001"
    app_cpu: str = "const:0"
    timeout: float = 300.0
    window: float = 1.0
    warmup: float = 0.0

    def __post_init__(self) -> None:
        for f in ("duration", "rate", "timeout", "window"):
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{f} must be a number > 0, got {v!r}")
        for f in ("keys", "processes", "db_connections", "value_size"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if f == "value_size" else 1):
                raise ValueError(f"{f} must be an integer >= {0 if f == 'value_size' else 1}, got {v!r}")
        if self.protection not in PROTECTIONS:
            raise ValueError(f"protection must be one of {', '.join(PROTECTIONS)}, got {self.protection!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup!r}")
        check_load("stampede", self.rate, self.duration, self.processes)
        if self.protection == "seed-lock" and not float(self.ttl).is_integer():
            raise ValueError(f"ttl must be whole seconds with protection seed-lock (the seed's SETEX takes "
                             f"seconds), got {self.ttl!r}")
        check_dists(self, "recompute", "cache_service", "cache_latency", "db_latency", "client_latency", "app_cpu")
        self.config()  # validates ttl, beta, jitter, stale, lease_ttl, poll, scope, lock_ttl

    def config(self) -> StampedeConfig:
        """The protections' settings."""
        return StampedeConfig(ttl=self.ttl, beta=self.beta, jitter=self.jitter, stale=self.stale,
                              lease_ttl=self.lease_ttl, lease_stale=self.lease_stale, poll=self.poll,
                              scope=self.scope, lock_ttl=self.lock_ttl)


def app_names(p: StampedeParams) -> list[str]:
    return ["app"] if p.processes == 1 else [f"app{i}" for i in range(p.processes)]


def build(p: StampedeParams, seed: int) -> System:
    """Build the system (world, network, components; clients start once the keys are filled)."""
    world = World(seed, window=p.window, warmup=p.warmup)
    net = world.network
    for n, kind in (("clients", "client"), ("redis", "cache"), ("db", "db")):
        net.add_node(n, kind)
    redis = RedisServer(world, "redis", service=p.cache_service)
    db = Database(world, "db", read_service=p.recompute, connections=p.db_connections, value_size=p.value_size)
    meter = StampedeMeter(world)
    config = p.config()
    apps: list[App] = []
    for name in app_names(p):
        net.add_node(name, "app")
        net.add_link("clients", name, p.client_latency)
        net.add_link(name, "redis", p.cache_latency)
        net.add_link(name, "db", p.db_latency)
        # made once per app: a restart rebuilds the strategy, and its stream and clock go on
        rng = world.rng(f"{name}:{p.protection}")
        clock = HostClock(world.env)

        def factory(app: App, rng: Any = rng, clock: HostClock = clock) -> Any:
            cache = MeteredCache(Redis(world, app, redis), meter)
            return make_protection(p.protection, cache, DatabaseClient(world, app, db), meter, config, clock, rng)

        apps.append(App(world, name, factory, cpu=p.app_cpu))
    wl = Workload(p.keys, 0.0, 0.0, Dist("constant", float(p.value_size)))
    clients: list[Any] = []
    delta = Dist.parse(p.recompute).mean()

    def start() -> Any:
        if p.prefill:
            # the keys are filled together, with the database's current value, as a recompute would
            first = apps[0]
            fills = [first.spawn(first.strategy.prefill(k, Value(0, p.value_size), delta)) for k in range(p.keys)]
            yield world.env.all_of(fills)
        for i, app in enumerate(apps):
            name = "clients" if len(apps) == 1 else f"clients{i}"
            c = OpenLoopClient(world, name, "clients", app, wl, p.rate / len(apps), timeout=p.timeout)
            c.stop_at = p.duration
            clients.append(c)

    world.process(start())
    return System(world, clients, ["redis", "db"], db, {"apps": apps, "cache": redis, "meter": meter})


def theory(p: StampedeParams) -> dict[str, Any]:
    """The predicted mean recomputes per expiry, where a closed form applies (a constant recompute time)."""
    d = Dist.parse(p.recompute)
    if d.kind != "constant" or p.protection not in ("none", "jitter", "single-flight", "xfetch"):
        return {}
    lc, ld = Dist.parse(p.cache_latency).mean(), Dist.parse(p.db_latency).mean()
    s = Dist.parse(p.cache_service).mean()
    r = p.rate / p.keys
    # from the first miss's lookup at the cache to its fill there: the reply, the query's round trip, the fill
    window = s + 2 * lc + 2 * ld + d.a
    if p.protection in ("none", "jitter"):
        return {"recomputes_per_expiry": expected_recomputes_none(r, window), "formula": "1 + r*w"}
    if p.protection == "single-flight":
        if p.scope == "global":
            return {"recomputes_per_expiry": 1.0, "formula": "1"}
        return {"recomputes_per_expiry": expected_recomputes_single_flight(r, window, p.processes),
                "formula": "1 + (P-1)(1 - exp(-r*w/P))"}
    measured = d.a + 2 * ld  # XFetch stores the recompute as the app measured it
    return {"recomputes_per_expiry": expected_recomputes_xfetch(r, measured, p.beta, window, s + lc, p.ttl),
            "asymptote": math.exp(window / (p.beta * measured)), "formula": "exact (about e^(1/beta))"}


def summarize_stampede(p: StampedeParams, system: System, result: SimResult) -> dict[str, Any]:
    """The stampede summary fields, from the meter and the time series."""
    world = system.world
    meter: StampedeMeter = system.parts["meter"]
    out = meter.summary()
    ts = result.timeseries if len(result.timeseries) else world.recorder.timeseries()
    warm = world.recorder.warmup
    db = ts[(ts.component == "db") & (ts.metric == "reads_rate") & (ts.time >= warm)]
    out["db_peak_rps"] = float(db.value.max()) if len(db) else 0.0
    lat = ts[(ts.component == "latency:all") & (ts.metric == "p99_ms") & (ts.time >= warm)]
    out["latency_p99_peak_ms"] = float(lat.value.max()) if len(lat) else math.nan
    span = max(p.duration - warm, 1e-12)
    dbc = world.recorder.delta("db")
    out["db_mean_rps"] = dbc.get("reads", 0.0) / span
    rc = world.recorder.delta("redis")
    requests = max(result.summary.get("sim_requests", 0), 1)
    out["cache_commands"] = int(rc.get("commands", 0))
    out["cache_commands_per_request"] = rc.get("commands", 0) / requests
    out["waiting_cache_rps"] = out["waiting_cache_commands"] / span
    out["protection"] = p.protection
    t = theory(p)
    if t:
        out["theory"] = t
    return out


def simulate(p: StampedeParams, seed: int, faults: list[Any] | None = None, timeseries: bool = True) -> SimResult:
    """Run the model (with a fault schedule) and return summary plus time series."""
    system = build(p, seed)
    result = simulate_system(system, p.duration, faults or [], timeseries)
    result.summary.update(summarize_stampede(p, system, result))
    return result


@model("stampede", "a hot key (or keys filled together) expiring under Poisson load: the seed's lock and the "
       "protections compared", StampedeParams)
def run(p: StampedeParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults, timeseries=False).summary


def figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """``simcache run stampede --figures DIR``: DB load, hit ratio and p99 per window, expiries marked."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timeline_figure(result, out / "stampede_timeline")
    return [out / "stampede_timeline.png", out / "stampede_timeline.svg"]
