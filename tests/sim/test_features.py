"""Features of the system core checked with numbers: pipelining, the DB query cache, MMPP and diurnal arrivals,
closed-loop clients, refresh-ahead and read-through."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from simcache.sim.clients import ClosedLoopClient, OpenLoopClient, Workload
from simcache.sim.core import Request, call
from simcache.sim.database import Database
from simcache.sim.network import Network
from simcache.sim.servers import CacheServer
from simcache.sim.strategies import make_app
from simcache.sim.world import World
from simcache.theory import ttl_hit_ratio


class Caller:
    """Owner of hand-made requests: keeps (request, finish time) of each reply."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.done: list[tuple[Request, float]] = []
        self.rid = 0

    def send(self, src: str, srv: Any, opcode: str, key: Any = None, items: Any = None, wid: int = 0) -> Request:
        self.rid += 1
        now = self.world.env.now
        req = Request(self.rid, key, "read", 1, now, math.inf, self)
        req.items = items
        req.wid = wid
        call(self.world, req, src, srv, opcode, self._back)
        return req

    def _back(self, req: Request) -> None:
        self.done.append((req, self.world.env.now))

    def on_timeout(self, req: Request) -> None:  # pragma: no cover - no deadline
        raise AssertionError("no request should time out")


# ---------------------------------------------------------------- pipelining
def test_mget_pipeline_costs_one_round_trip_plus_n_service_times() -> None:
    rtt_half, svc, n = 0.001, 0.0001, 10
    world = World(0)
    net = Network(world)
    net.add_link("app", "redis", f"const:{rtt_half}")
    cache = CacheServer(world, "redis", "redis", "lru", 100, "redis", f"const:{svc}")
    for k in range(0, n, 2):  # half the keys are cached
        cache.store.set(k, 100 + k, 1, version=1)
    caller = Caller(world)
    world.at(0.0, lambda _: caller.send("app", cache, "mget", items=list(range(n))))
    world.run(1.0)
    (req, t), = caller.done
    # 1 ms there + 10 x 0.1 ms of service + 1 ms back = 3 ms (N separate GETs in sequence: 10 x 2.1 ms = 21 ms)
    assert t == pytest.approx(0.003, abs=1e-12)
    assert [None if r is None else r[0] for r in req.result] == [100 + k if k % 2 == 0 else None for k in range(n)]
    assert cache.ops == 1 and cache.busy == pytest.approx(n * svc)


def test_mget_commands_queue_behind_each_other_on_one_event_loop() -> None:
    world = World(0)
    net = Network(world)
    net.add_link("app", "redis", "const:0.001")
    cache = CacheServer(world, "redis", "redis", "lru", 100, "redis", "const:0.0001")
    caller = Caller(world)
    world.at(0.0, lambda _: caller.send("app", cache, "mget", items=list(range(5))))
    world.at(0.0, lambda _: caller.send("app", cache, "mget", items=list(range(5))))
    world.run(1.0)
    # the second pipeline starts when the first one's 5 commands are done: 1 + 0.5 + 0.5 + 1 ms
    assert sorted(t for _, t in caller.done) == pytest.approx([0.0025, 0.003], abs=1e-12)


# ------------------------------------------------------------ DB query cache
def test_query_cache_hits_skip_the_read_service_and_writes_invalidate() -> None:
    world = World(0)
    net = Network(world)
    net.add_link("app", "db", "const:0.001")
    db = Database(world, "db", "db", "const:0.002", "const:0.004", connections=1, query_cache=10,
                  query_cache_service="const:0.0002")
    caller = Caller(world)
    plan = [(0.0, "read", 0), (0.1, "read", 0), (0.2, "write", 77), (0.3, "read", 0), (0.4, "read", 0)]
    for t, op, wid in plan:
        world.at(t, lambda _, op=op, wid=wid: caller.send("app", db, op, key=1, wid=wid))
    world.run(1.0)
    took = [t - r.t0 for r, t in caller.done]
    # read: 2 ms hops + 2 ms service; query-cache hit: 2 ms + 0.2 ms; write: 2 + 4 ms; the write dropped the entry
    assert took == pytest.approx([0.004, 0.0022, 0.006, 0.004, 0.0022], abs=1e-12)
    assert [r.result for r, _ in caller.done if r.opcode == "read"] == [(0, 0), (0, 0), (77, 1), (77, 1)]
    assert db.qc is not None and (db.qc.stats.hits, db.qc.stats.misses) == (2, 2)
    assert db.busy == pytest.approx(2 * 0.002 + 2 * 0.0002 + 0.004)


# ----------------------------------------------------------------- arrivals
class Sink:
    """An app that only notes when requests arrive."""

    node = "here"

    def __init__(self, world: World) -> None:
        self.world = world
        self.times: list[float] = []

    def handle(self, req: Request) -> None:
        self.times.append(self.world.env.now)


def _arrivals(seed: int, duration: float, **kw: Any) -> np.ndarray:
    world = World(seed)
    net = Network(world)
    net.add_node("here")
    sink = Sink(world)
    client = OpenLoopClient(world, "clients", "here", sink, Workload(10, 0.0, 0.0), **kw)
    client.stop_at = duration
    world.run(duration)
    return np.asarray(sink.times)


def test_mmpp_mean_rate_and_count_variance_match_the_two_state_theory() -> None:
    lo, hi, t_lo, t_hi, duration, w = 5.0, 40.0, 5.0, 2.0, 8000.0, 1.0
    times = _arrivals(3, duration, rate=1.0, arrivals="mmpp", mmpp=(lo, hi, t_lo, t_hi))
    r1, r2 = 1 / t_lo, 1 / t_hi  # rates of leaving the low and the high state
    a = r1 + r2
    p_lo, p_hi = r2 / a, r1 / a
    mean = p_lo * lo + p_hi * hi  # = 15 per second
    counts = np.bincount((times // w).astype(int), minlength=int(duration / w))
    # Var N(w) = mean*w + 2 p_lo p_hi (hi - lo)^2 / a * (w - (1 - exp(-a w)) / a)
    var = mean * w + 2 * p_lo * p_hi * (hi - lo) ** 2 / a * (w - (1 - math.exp(-a * w)) / a)
    assert len(times) / duration == pytest.approx(mean, rel=0.05)
    assert counts.var() == pytest.approx(var, rel=0.15)
    assert var > 5 * mean * w  # far burstier than Poisson: the check tells MMPP from Poisson


def test_diurnal_rate_follows_the_sinusoid_by_phase() -> None:
    rate, amp, period, duration = 100.0, 0.5, 100.0, 1000.0
    times = _arrivals(5, duration, rate=rate, arrivals="diurnal", diurnal=(amp, period))
    bins = 10
    phase = ((times % period) / period * bins).astype(int)
    counts = np.bincount(phase, minlength=bins)
    edges = np.arange(bins + 1) / bins * period
    # integral of rate (1 + amp sin(2 pi t / P)) over each phase bin, times the number of periods
    integral = rate * (np.diff(edges) - amp * period / (2 * math.pi) * np.diff(np.cos(2 * math.pi * edges / period)))
    expected = integral * duration / period
    np.testing.assert_allclose(counts, expected, rtol=0.05)
    assert counts.max() / counts.min() > 2  # the swing is there (a flat Poisson stream would fail above)


# --------------------------------------------------------------- closed loop
def _closed_loop_system(users: int, think: str, seed: int) -> dict[str, Any]:
    world = World(seed)
    net = Network(world)
    net.add_link("client", "app", "const:0.001")
    net.add_link("app", "db", "const:0.0005")
    db = Database(world, "db", "db", "exp:0.004", "exp:0.004", connections=2)
    app = make_app("cache-aside", world, "app", "app", db)  # no cache: every read queues at the DB
    client = ClosedLoopClient(world, "clients", "client", app, Workload(100, 0.0, 0.0), users, think, timeout=10.0)
    return {"world": world, "db": db, "client": client}


@pytest.mark.parametrize("users", [4, 40])
def test_closed_loop_throughput_obeys_the_response_time_law(users: int) -> None:
    think, duration = 0.05, 60.0
    s = _closed_loop_system(users, f"exp:{think}", 7)
    s["world"].run(duration)
    rec = s["world"].recorder
    r = rec.hist("all")
    assert r is not None
    throughput = rec.total("client", "ok") / duration
    # interactive response time law: X = N / (R + Z)
    assert throughput == pytest.approx(users / (r.mean() + think), rel=0.03)
    if users == 40:  # saturated: two DB connections at 4 ms each cap throughput at 500/s, R grows instead
        assert throughput == pytest.approx(500.0, rel=0.03) and r.mean() > 0.02


# ------------------------------------------------------------- refresh-ahead
def _hot_keys(strategy: str, seed: int, **opts: Any) -> dict[str, Any]:
    world = World(seed)
    net = Network(world)
    for a, b in (("client", "app"), ("app", "redis"), ("app", "db")):
        net.add_link(a, b, "const:0.0001")
    db = Database(world, "db", "db", "const:0.0005", "const:0.001", connections=8)
    cache = CacheServer(world, "redis", "redis", "lru", 100, "redis", "const:0.00001")
    app = make_app(strategy, world, "app", "app", db, cache=cache, ttl=1.0, **opts)
    client = OpenLoopClient(world, "clients", "client", app, Workload(10, 0.0, 0.0), rate=200.0)
    client.stop_at = 60.0
    world.run(61.0)
    return {"world": world, "db": db, "cache": cache, "app": app, "client": client}


def test_refresh_ahead_keeps_hot_keys_warm_cache_aside_misses_once_per_ttl() -> None:
    ca = _hot_keys("cache-aside", 1)
    ra = _hot_keys("refresh-ahead", 1, refresh_fraction=0.5)
    reads = ca["cache"].store.stats.requests
    # cache-aside is a TTL cache refreshed only by misses: 10 keys at 20/s each, TTL 1 s -> miss ratio 1/21
    theory_misses = reads * (1 - ttl_hit_ratio(np.full(10, 20.0), 1.0, reset_on_hit=False))
    ca_misses = ca["cache"].store.stats.misses
    # ~570; reads arriving while a miss is being filled also miss (no coalescing): a few % above the formula
    assert ca_misses == pytest.approx(theory_misses, rel=0.08)
    # refresh-ahead: a hit in the last half of the TTL reloads the key, so only the 10 cold misses remain
    # (a key misses again only if no read comes in a 0.5 s refresh window: exp(-10) per cycle)
    ra_misses = ra["cache"].store.stats.misses
    assert 10 <= ra_misses <= 15
    # a reload starts at the first hit after half the TTL, i.e. one cycle per 0.5 s + 1/20 s per key
    assert ra["app"].refreshes == pytest.approx(10 * 60 / (0.5 + 1 / 20), rel=0.05)
    assert ra["db"].reads == ra_misses + ra["app"].refreshes


# --------------------------------------------------------------- read-through
def test_read_through_loads_misses_from_the_db_and_db_reads_equal_misses() -> None:
    s = _hot_keys("read-through", 2)
    stats = s["cache"].store.stats
    rec = s["world"].recorder
    assert stats.misses > 100
    assert s["db"].reads == stats.misses
    assert rec.total("db", "reads_served") == stats.misses  # each miss was answered with the loaded value
    assert rec.total("redis", "reads_served") == stats.hits
    assert stats.sets == stats.misses  # the cache node filled itself on every miss
    # and the miss ratio is the TTL cache's: 10 keys at 20/s, TTL 1 s
    assert stats.miss_ratio == pytest.approx(1 - ttl_hit_ratio(np.full(10, 20.0), 1.0, False), rel=0.08)
