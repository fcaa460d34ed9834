"""Tier chains on the process core: validation, cache-aside equivalence, conservation, TTL theory, staleness,
the failure contract at the proxies, and the hierarchy model."""

from __future__ import annotations

import heapq
import json
import sys
from collections.abc import Generator
from typing import Any, cast

import numpy as np
import pytest
import simpy

from simcache.catalog import get_model, run_model
from simcache.cli import main
from simcache.errors import UsageError
from simcache.sim import faults as faults_mod
from simcache.sim.app import App, MessageLost
from simcache.sim.clients import OpenLoopClient, Workload
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.oracle import Value
from simcache.sim.report import run_model_full
from simcache.sim.rpc import RemoteError
from simcache.sim.runner import System
from simcache.sim.tier_report import hierarchy_figures
from simcache.sim.tiers import Browsers, ProxyCache, Tier
from simcache.sim.world import World
from simcache.store import Cache
from simcache.theory import ttl_hit_ratio

TIERS = ["browser", "cdn", "lb", "app", "redis", "db"]


def _mod() -> Any:
    return sys.modules[get_model("hierarchy").source]


def _build(seed: int = 0, **params: Any) -> System:
    """The hierarchy model's system (not run)."""
    return cast(System, _mod().build(get_model("hierarchy").make_params(params), seed))


#: every delay of the chain constant, every service instant: timelines can be worked by hand
CONST: dict[str, Any] = {"browser_hop": "const:0.001", "cdn_hop": "const:0.001", "lb_hop": "const:0.001", "app_hop": "const:0.001",
         "db_hop": "const:0.001", "browser_lookup": "const:0", "cdn_service": "const:0", "lb_service": "const:0",
         "app_service": "const:0", "app_lookup": "const:0", "cache_service": "const:0", "db_read": "const:0.001", "db_write": "const:0.001",
         "query_cache": 0, "rate": 1e-6, "duration": 100.0, "browser_clients": 1}


class DirectDB:
    """A strategy with no cache: reads and writes go to the database (an origin for one-tier chains)."""

    def __init__(self, db: DatabaseClient) -> None:
        self.db = db

    def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
        return (yield from self.db.get(key))

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, Any]:
        return (yield from self.db.set(key, value))


def _origin(world: World, node_above: str, hop: str, db_read: str = "const:0", db_write: str = "const:0",
            db_hop: str = "const:0", cpu: str = "const:0") -> tuple[App, Database]:
    """An app answering from the database directly, linked to ``node_above``."""
    world.network.add_link(node_above, "origin", hop)
    world.network.add_link("origin", "db", db_hop)
    db = Database(world, "db", read_service=db_read, write_service=db_write, connections=256)
    app = App(world, "origin", lambda a: DirectDB(DatabaseClient(world, a, db)), cpu=cpu)
    return app, db


class Driver:
    """Requests chosen by the test, each judged against the oracle as the clients judge theirs."""

    def __init__(self, world: World, node: str = "clients") -> None:
        self.world = world
        self.node = node
        #: (time sent, op, key, outcome, time done, served by, write id, verdict)
        self.log: list[tuple[float, str, Any, str, float, str, int, str]] = []

    def at(self, t: float, front: Tier, op: str, key: Any) -> None:
        env = self.world.env

        def go() -> Generator[simpy.Event, Any, None]:
            yield env.timeout(t - env.now)
            t0 = env.now
            value = Value(self.world.new_write_id(), 100) if op == "write" else None
            answer: Any = None
            served = verdict = ""
            try:
                answer, served = yield from front.serve(self.node, op, key, value)
                outcome = "ok"
            except MessageLost:
                outcome = "lost"
            except RemoteError as err:
                outcome = str(err)
            if outcome == "ok" and op == "read" and isinstance(answer, Value):
                verdict = self.world.oracle.judge(key, answer.wid, t0, env.now).kind
            wid = answer.wid if isinstance(answer, Value) else (value.wid if value is not None else -1)
            self.log.append((t0, op, key, outcome, env.now, served, wid, verdict))

        self.world.process(go())

    def reads(self) -> list[tuple[str, str]]:
        """(served by, verdict) of each read, in the order they were sent."""
        return [(o[5], o[7]) for o in sorted(self.log) if o[1] == "read"]


# --------------------------------------------------------------- validation
@pytest.mark.parametrize(("kw", "needle"), [
    ({"capacity": -1}, "capacity must be an integer >= 0"),
    ({"capacity": 2.5}, "capacity must be an integer >= 0"),
    ({"ttl": 0}, "ttl must be a number of seconds > 0 or None"),
    ({"ttl": float("inf")}, "ttl must be"),
    ({"policy": "nope"}, "policy must be one of"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"service": "foo:1"}, ""),
])
def test_proxy_errors_name_the_field(kw: dict[str, Any], needle: str) -> None:
    world = World(0)
    app, _ = _origin(world, "edge", "const:0")
    with pytest.raises(UsageError) as err:
        ProxyCache(world, "edge", app, **kw)
    assert len(str(err.value).splitlines()) == 1 and needle in str(err.value)


@pytest.mark.parametrize(("kw", "needle"), [
    ({"copies": 0}, "copies must be an integer >= 1"),
    ({"capacity": -3}, "capacity must be an integer >= 0"),
    ({"ttl": -1.0}, "ttl must be a number of seconds > 0"),
    ({"policy": "lur"}, "policy must be one of"),
])
def test_browser_errors_name_the_field(kw: dict[str, Any], needle: str) -> None:
    world = World(0)
    app, _ = _origin(world, "clients", "const:0")
    with pytest.raises(UsageError, match="browser") as err:
        Browsers(world, "browser", "clients", app, **kw)
    assert needle in str(err.value)


@pytest.mark.parametrize(("setting", "needle"), [
    ("cdn_policy=zzz", "cdn_policy must be one of"),
    ("lb_ttl=0", "lb_ttl must be a number of seconds > 0 or None"),
    ("browser_hop=foo:1", "browser_hop"),
    ("cache_policy=nope", "cache_policy"),
    ("browser_clients=0", "browser_clients must be an integer >= 1"),
    ("strategy=zzz", "cache-aside"),
    ("warmup=100", "warmup must be in [0, duration)"),
    ("write_fraction=2", "write_fraction must be in [0, 1]"),
])
def test_bad_model_parameter_is_one_line_exit_2(setting: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "hierarchy", "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_ttl_none_means_no_expiry_and_redis_policy_names_are_accepted() -> None:
    p = get_model("hierarchy").make_params({"cdn_ttl": "none", "cache_policy": "allkeys-lfu"})
    assert p.cdn_ttl is None and p.cache_policy == "allkeys-lfu"
    s = _build(**CONST, cdn_ttl=None)
    assert s.parts["cdn"].cache is not None and s.parts["cdn"].ttl is None


# ----------------------------------------------- one tier == cache-aside replay
class Recording:
    """Stands between the client and a tier and writes down (time, key, op) of each request."""

    def __init__(self, world: World, tier: Tier) -> None:
        self.world = world
        self.tier = tier
        self.node = "clients"
        self.log: list[tuple[float, Any, str]] = []

    def serve(self, src: str, op: str, key: Any, value: Any = None) -> Generator[simpy.Event, Any, Any]:
        self.log.append((self.world.now, key, op))
        return (yield from self.tier.serve(src, op, key, value))


@pytest.mark.parametrize("seed", [0, 1])
def test_one_proxy_equals_a_cache_aside_replay(seed: int) -> None:
    h1, s, h2, cpu, h3, r, w, ttl = 0.001, 0.0002, 0.002, 0.0003, 0.0005, 0.002, 0.003, 2.0
    world = World(seed)
    world.network.add_link("clients", "edge", f"const:{h1}")
    app, db = _origin(world, "edge", f"const:{h2}", f"const:{r}", f"const:{w}", f"const:{h3}", f"const:{cpu}")
    edge = ProxyCache(world, "edge", app, 50, ttl, service=f"const:{s}", workers=256, invalidate=True)
    front = Recording(world, edge)
    client = OpenLoopClient(world, "clients", "clients", cast(App, front), Workload(300, 0.8, 0.1), rate=400.0,
                            timeout=5.0)
    client.stop_at = 20.0
    world.run(21.0)

    # the same key stream through a bare Cache: a read looks up when it reaches the edge and fills when the
    # database's answer is back there; a write deletes the key when its answer passes back
    fill = h1 + s + h2 + cpu + h3 + r + h3 + h2
    purge = h1 + h2 + cpu + h3 + w + h3 + h2
    heap: list[tuple[float, int, str, Any]] = []
    for n, (t, key, op) in enumerate(front.log):
        heap.append((t + h1, n, "get", key) if op == "read" else (t + purge, n, "del", key))
    heapq.heapify(heap)
    clock = [0.0]
    cache = Cache("lru", 50, clock=lambda: clock[0])
    hits = misses = 0
    seq = len(heap)
    while heap:
        t, _, kind, key = heapq.heappop(heap)
        clock[0] = t
        if kind == "get":
            if cache.get_entry(key) is not None:
                hits += 1
            else:
                misses += 1
                seq += 1
                heapq.heappush(heap, (t - h1 + fill, seq, "fill", key))
        elif kind == "fill":
            cache.set(key, None, 1, ttl=ttl)
        else:
            cache.delete(key)
    assert edge.cache is not None
    reads = sum(1 for _, _, op in front.log if op == "read")
    assert reads > 5000
    assert (edge.cache.stats.hits, edge.cache.stats.misses) == (hits, misses)
    assert db.reads == misses  # every miss read the database once
    assert 0.2 < hits / reads < 0.9  # the comparison is not vacuous


# ------------------------------------------------------------- conservation
def test_reads_reaching_tier_k_plus_1_equal_misses_at_tier_k_exactly() -> None:
    s = _build(4, duration=4.0, rate=1500.0, cdn_ttl=0.5, lb_ttl=1.5, app_ttl=3.0, write_fraction=0.05)
    s.world.run(6.0)  # the client stops at 4 s: let everything in flight finish
    last = {n: s.world.recorder.last_scrape(n) for n in TIERS}
    looked = {n: last[n]["hits"] + last[n]["misses"] for n in TIERS[:-1]}
    assert looked["browser"] > 4000
    assert last["browser"]["misses"] == last["cdn"]["reads"] == looked["cdn"]
    assert last["cdn"]["misses"] == last["lb"]["reads"] == looked["lb"]
    assert last["lb"]["misses"] == looked["app"]
    assert last["app"]["misses"] == looked["redis"]
    assert last["redis"]["misses"] == last["db"]["reads"]
    assert all(last[n]["hits"] > 0 for n in TIERS[:-1])  # every tier answers something in this configuration
    client = s.clients[0]
    assert client.finished == client.issued  # nothing lost: the equalities above are exact
    writes = s.parts["db"].writes
    assert writes > 0 and last["cdn"]["writes"] == last["lb"]["writes"] == writes


# ----------------------------------------------------------- TTL-cache theory
@pytest.mark.parametrize("kind", ["proxy", "browsers"])
def test_first_tier_hit_ratio_matches_ttl_cache_theory(kind: str) -> None:
    """A TTL cache filled on a miss and not refreshed by hits: per object lam*T / (1 + lam*T) (reset_on_hit=False)."""
    rate, alpha, n, ttl, duration, warmup, copies = 1000.0, 0.8, 1000, 0.5, 25.0, 2.0, 10
    world = World(11, warmup=warmup)
    app, _ = _origin(world, "edge" if kind == "proxy" else "clients", "const:0")
    edge: Any
    if kind == "proxy":
        world.network.add_link("clients", "edge", "const:0")
        edge = ProxyCache(world, "edge", app, 10 * n, ttl, service="const:0", workers=64)
        rates = rate * _zipf(n, alpha)
    else:
        edge = Browsers(world, "edge", "clients", app, copies, 10 * n, ttl, lookup="const:0")
        # each of the browsers sees its own Poisson stream at rate / copies
        rates = rate * _zipf(n, alpha) / copies
    client = OpenLoopClient(world, "clients", "clients", cast(App, edge), Workload(n, alpha, 0.0), rate=rate,
                            timeout=5.0)
    client.stop_at = duration
    world.run(duration)
    d = world.recorder.delta("edge")
    lookups = d["hits"] + d["misses"]
    expected = ttl_hit_ratio(rates, ttl, reset_on_hit=False)
    wrong = ttl_hit_ratio(rates, ttl, reset_on_hit=True)
    assert lookups > 20_000
    assert d["hits"] / lookups == pytest.approx(expected, abs=0.01)
    assert abs(wrong - expected) > 0.03  # the tolerance tells the two TTL models apart


def _zipf(n: int, alpha: float) -> np.ndarray:
    p = np.arange(1, n + 1, dtype=float) ** -alpha
    return p / p.sum()


# --------------------------------------------------------------- staleness
@pytest.mark.parametrize(("lb_invalidate", "last"), [(True, ("db", "fresh")), (False, ("lb", "stale"))])
def test_browser_and_cdn_serve_stale_until_max_age_while_invalidated_tiers_do_not(
        lb_invalidate: bool, last: tuple[str, str]) -> None:
    s = _build(**CONST, browser_ttl=10.0, cdn_ttl=30.0, lb_ttl=60.0, app_ttl=60.0, lb_invalidate=lb_invalidate)
    world = s.world
    b0 = s.parts["browser"]
    b1 = Browsers(world, "browser1", "clients", s.parts["cdn"], 1, 10, 10.0, lookup="const:0")
    d = Driver(world)
    d.at(0.0, b0, "read", 1)    # every tier misses: the database's version 0 fills app, LB, CDN (~30) and b0 (~10)
    d.at(1.0, b0, "write", 1)   # commits version 1; the LB, the app's copy and Redis's are deleted, b0 and CDN kept
    d.at(2.0, b0, "read", 1)    # b0 hit: stale
    d.at(2.5, b1, "read", 1)    # b1 miss, CDN hit: stale
    d.at(12.0, b0, "read", 1)   # b0 expired at ~10: CDN hit, still stale (and b0 refilled with it)
    d.at(31.0, b1, "read", 1)   # b1 expired at ~12.5, the CDN at ~30: the LB if it kept its copy, else the database
    world.run(40.0)
    assert d.reads() == [("db", "fresh"), ("browser", "stale"), ("cdn", "stale"), ("cdn", "stale"), last]
    assert [o[3] for o in d.log] == ["ok"] * 6
    assert s.parts["lb"].purges == (1 if lb_invalidate else 0)


def test_stale_reads_are_counted_at_the_tier_that_served_them() -> None:
    r = run_model_full("hierarchy", {"duration": 3.0, "rate": 1500.0, "write_fraction": 0.1, "cdn_ttl": 1.0}, 2)
    tiers = r.summary["tiers"]
    assert r.summary["stale_reads"] == sum(t["stale_reads"] for t in tiers.values()) > 0
    assert r.summary["concurrent_reads"] == sum(t["concurrent_reads"] for t in tiers.values())
    # nothing invalidates the browsers and the CDN: they serve the stale reads
    assert tiers["browser"]["stale_reads"] + tiers["cdn"]["stale_reads"] > 0.9 * r.summary["stale_reads"]


# -------------------------------------------------- the failure contract at the proxies
def _timeline(**params: Any) -> tuple[System, Driver]:
    s = _build(**(CONST | params))
    return s, Driver(s.world)


def test_crash_of_the_lb_resets_the_client_while_the_work_below_goes_on() -> None:
    # a cold read: at the app from 0.003; the LB crashes at 0.005 (host up): its reset reaches the CDN at 0.006
    # and the client at 0.007, while the app finishes the read (database at 0.006) and fills Redis
    s, d = _timeline()
    d.at(0.0, s.parts["browser"], "read", 7)
    faults_mod.schedule(s.world, ["crash:lb@0.005"])
    s.world.run(1.0)
    (_, _, _, outcome, t_done, _, _, _), = d.log
    assert outcome == "Connection reset by peer" and t_done == pytest.approx(0.007)
    assert s.parts["db"].reads == 1 and s.parts["app"].local.peek(7) is not None
    assert s.parts["lb"].cache.peek(7) is None and s.parts["cdn"].cache.peek(7) is None


def test_a_write_passed_on_before_a_proxy_crash_still_commits() -> None:
    s, d = _timeline()
    d.at(0.0, s.parts["browser"], "write", 7)   # at the app from 0.003, commits at the database at 0.004
    faults_mod.schedule(s.world, ["crash:lb@0.0031"])
    s.world.run(1.0)
    assert d.log[0][3] == "Connection reset by peer"
    assert s.world.oracle.commits == 1 and s.parts["db"].writes == 1


@pytest.mark.parametrize(("fault", "outcome", "t_done"), [
    ("crash:cdn@0", "Connection refused", 0.002),  # one round trip to the CDN's live host
    ("down:cdn@0", "lost", 0.001),                 # the host is gone: no answer (the client times out)
])
def test_a_proxy_that_is_down_refuses_or_never_answers(fault: str, outcome: str, t_done: float) -> None:
    s, d = _timeline()
    faults_mod.schedule(s.world, [fault])
    d.at(0.0005, s.parts["browser"], "read", 7)
    s.world.run(1.0)
    assert d.log[0][3] == outcome and d.log[0][4] == pytest.approx(0.0005 + t_done)
    assert s.parts["db"].reads == 0


@pytest.mark.parametrize(("fault", "outcome"), [("crash:cdn@0.005", "Connection reset by peer"),
                                                ("down:cdn@0.005", "lost")])
def test_requests_queued_or_in_service_at_a_crashed_proxy_all_end(fault: str, outcome: str) -> None:
    # two workers, 10 ms lookups: two reads in service and one queued when the CDN dies at 5 ms
    s, d = _timeline(cdn_workers=2, cdn_service="const:0.01")
    for key in (1, 2, 3):
        d.at(0.0, s.parts["browser"], "read", key)
    faults_mod.schedule(s.world, [fault])
    s.world.run(1.0)
    assert [o[3] for o in d.log] == [outcome] * 3
    expected = 0.006 if outcome != "lost" else 0.005  # a reset travels back one hop; with the host down, nothing
    assert all(o[4] == pytest.approx(expected) for o in d.log)
    assert s.parts["lb"].reads == 0


@pytest.mark.parametrize(("pause", "t_done"), [
    ("pause:cdn@0+0.5", 0.512),      # the lookup waits for the pause's end, then the 11 ms round trip below
    ("pause:cdn@0.005+0.1", 0.106),  # the answer reaches the paused CDN at 0.012 and is held until 0.105
])
def test_a_paused_proxy_holds_lookups_and_answers(pause: str, t_done: float) -> None:
    s, d = _timeline()
    d.at(0.0 if "0.005" in pause else 0.1, s.parts["browser"], "read", 7)
    faults_mod.schedule(s.world, [pause])
    s.world.run(2.0)
    assert d.log[0][3] == "ok" and d.log[0][4] == pytest.approx(t_done)


def test_a_partition_between_cdn_and_lb_loses_the_request_in_flight() -> None:
    s, d = _timeline()
    d.at(0.0, s.parts["browser"], "read", 7)  # crosses CDN -> LB between 0.001 and 0.002
    faults_mod.schedule(s.world, ["partition:cdn|lb@0.0015+1"])
    d.at(0.5, s.parts["browser"], "read", 8)  # sent while the cut lasts: never arrives
    d.at(2.0, s.parts["browser"], "read", 9)  # after the heal
    s.world.run(3.0)
    assert [o[3] for o in sorted(d.log)] == ["lost", "lost", "ok"]


# ---------------------------------------------------------------- the model
def test_fast_and_event_by_event_servers_give_the_same_summary() -> None:
    params = {"duration": 2.0, "rate": 1000.0, "cdn_ttl": 0.5, "lb_ttl": 1.0, "app_ttl": 1.5}
    a = run_model("hierarchy", params, 1, faults=["crash:lb@0.8+0.2", "pause:cdn@1.2+0.1"])
    b = run_model("hierarchy", params | {"queueing": "events"}, 1, faults=["crash:lb@0.8+0.2", "pause:cdn@1.2+0.1"])
    for k in ("outcomes", "hit_ratio", "stale_reads", "concurrent_reads", "latency_ms", "tiers"):
        assert a[k] == b[k], k


def test_faults_apply_to_the_hierarchy_and_are_listed() -> None:
    base = {"duration": 3.0, "rate": 800.0}
    clean = run_model("hierarchy", base, 3)
    r = run_model_full("hierarchy", base, 3, faults=["crash:cdn@1+0.5"])
    s = r.summary
    assert clean["outcomes"]["error"] == 0 and s["outcomes"]["error"] > 0
    assert s["faults"] == [{"kind": "crash", "target": "cdn", "at": 1.0, "duration": 0.5}]
    ts = r.timeseries
    errors = ts[(ts.component == "client") & (ts.metric == "error")]
    # errors only while the CDN is down (the resets of requests it held arrive a few hops after the crash)
    assert set(errors.time) <= {1.0} and errors.value.sum() == s["outcomes"]["error"]
    with pytest.raises(UsageError, match="no component 'cdnn'"):
        run_model("hierarchy", base, 3, faults=["crash:cdnn@1"])


def test_strategy_options_reach_the_app_tier() -> None:
    s = _mod().build(get_model("hierarchy").make_params({"strategy": "refresh-ahead"}), 0,
                     {"ttl": 5, "refresh_fraction": 0.5})
    strategy = s.parts["app"].strategy
    assert type(strategy).__name__ == "RefreshAhead" and (strategy.ttl, strategy.refresh_fraction) == (5, 0.5)
    # no caches between the CDN and Redis, and a short CDN TTL: Redis sees the same keys again and again
    base = {"duration": 3.0, "rate": 1000.0, "app_capacity": 0, "lb_capacity": 0, "cdn_ttl": 0.2}
    short = run_model("hierarchy", base | {"strategy.ttl": 1}, 0)
    long = run_model("hierarchy", base, 0)
    assert short["outcomes"]["error"] == long["outcomes"]["error"] == 0
    assert short["hit_ratio"]["redis"] < long["hit_ratio"]["redis"]
    with pytest.raises(UsageError, match="has no option 'tll'"):
        run_model("hierarchy", {"duration": 1.0, "strategy.tll": 5}, 0)


def test_db_load_falls_as_cdn_ttl_grows() -> None:
    # no LB or app cache and a short Redis TTL, so that what the CDN lets through decides the database load
    base = {"duration": 4.0, "rate": 1000.0, "n_objects": 2000, "app_capacity": 0, "lb_capacity": 0, "cache_ttl": 1,
            "browser_ttl": 0.5, "write_fraction": 0.0}
    runs = [run_model("hierarchy", base | {"cdn_ttl": ttl}, 5) for ttl in (0.5, 2.0, 8.0)]
    assert all(r["outcomes"]["error"] == 0 for r in runs)
    loads = [r["db_load_per_s"] for r in runs]
    assert loads[0] > loads[1] > loads[2]
    assert loads[0] > 1.3 * loads[2]


def test_run_json_summary_fields_and_figures(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    p = get_model("hierarchy").make_params({})
    assert p.rate * p.duration >= 1e5
    assert main(["run", "hierarchy", "--duration", "1", "--set", "rate=500", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert list(s["tiers"]) == TIERS
    assert set(s["hit_ratio"]) == set(TIERS[:-1])
    for name, t in s["tiers"].items():
        assert {"kind", "lookups", "load_per_s", "reads_served", "stale_reads", "concurrent_reads"} <= set(t), name
        assert ("hit_ratio" in t) == (name != "db"), name
    assert s["tiers"]["db"]["lookups"] == s["db"]["reads"] and s["db_load_per_s"] == s["tiers"]["db"]["load_per_s"]
    assert {"p50", "p95", "p99", "p99_9"} <= set(s["latency_ms"]) and s["faults"] == []
    assert sum(t["reads_served"] for t in s["tiers"].values()) == s["read_latency_ms"]["count"]
    r = run_model_full("hierarchy", {"duration": 1.0, "rate": 500.0}, 0)
    paths = hierarchy_figures(r, tmp_path)
    assert [x.name for x in paths] == ["tier_hit_ratio.png", "tier_load.png", "tier_served.png"]
    assert all(x.stat().st_size > 1000 for x in paths)
    with pytest.raises(UsageError, match="tier-chain model"):
        hierarchy_figures(run_model_full("mm1", {"duration": 100.0, "warmup": 1.0}, 0), tmp_path)


@pytest.mark.slow
def test_defaults_make_every_tier_meaningful() -> None:
    s = run_model("hierarchy", {}, 0)
    assert s["sim_requests"] > 100_000 and s["outcomes"]["ok"] == s["completed"]
    # each tier answers a visible share of the reads that reach it (docs/tiers.md: the TTL ladder)
    for name, ratio in s["hit_ratio"].items():
        assert ratio > 0.05, (name, ratio)
    loads = [s["load_per_s"][n] for n in TIERS]
    assert loads == sorted(loads, reverse=True)  # each tier sees only what the tiers above let through
