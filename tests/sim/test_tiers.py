"""Declarative tier chains: validation, cache-aside equivalence, conservation, TTL theory, staleness, the model."""

from __future__ import annotations

import heapq
import json
import math
import sys
from typing import Any

import numpy as np
import pytest

from simcache.catalog import get_model, run_model
from simcache.cli import main
from simcache.errors import UsageError
from simcache.sim.clients import Client, OpenLoopClient, Workload
from simcache.sim.core import Request
from simcache.sim.network import Network
from simcache.sim.report import run_model_full
from simcache.sim.tier_report import hierarchy_figures
from simcache.sim.tiers import TierChain, TierSpec, build_chain
from simcache.sim.world import World
from simcache.store import Cache
from simcache.theory import ttl_hit_ratio


def _hierarchy_module() -> Any:
    return sys.modules[get_model("hierarchy").source]


# --------------------------------------------------------------- validation
@pytest.mark.parametrize(("kw", "needle"), [
    ({"kind": "proxy"}, "kind must be one of browser, cdn, lb, app, distributed, database"),
    ({"policy": "nope"}, "policy must be one of"),
    ({"capacity": -1}, "capacity must be an integer >= 0"),
    ({"capacity": 2.5}, "capacity must be an integer >= 0"),
    ({"ttl": 0}, "ttl must be a number of seconds > 0"),
    ({"ttl": math.inf}, "ttl must be"),
    ({"hop": "foo:1"}, "hop: "),
    ({"service": "exp:-1"}, "service: "),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"profile": "valkey"}, "profile must be one of redis, memcached"),
    ({"copies": 3}, "copies > 1 is supported for kind 'browser' only"),
    ({"invalidate": True}, "cannot be invalidated by the server"),
])
def test_spec_errors_name_the_field_and_allowed_values(kw: dict[str, Any], needle: str) -> None:
    args = {"name": "edge", "kind": "cdn", "capacity": 10} | kw
    with pytest.raises(UsageError, match="tier 'edge'") as err:
        TierSpec(**args)
    assert needle in str(err.value) and len(str(err.value).splitlines()) == 1


def test_database_spec_has_no_ttl_and_no_hop() -> None:
    with pytest.raises(UsageError, match="ttl must be None for the database"):
        TierSpec("db", "database", ttl=5.0)
    with pytest.raises(UsageError, match="hop must be 0 for the database"):
        TierSpec("db", "database", hop="const:0.001")


@pytest.mark.parametrize(("kinds", "needle"), [
    (["cdn", "app"], "the last tier, and only it, must be kind 'database'"),
    (["cdn", "database", "database"], "the last tier, and only it"),
    (["cdn", "browser", "database"], "a browser tier can only be the first tier"),
])
def test_chain_shape_errors(kinds: list[str], needle: str) -> None:
    specs = [TierSpec(f"t{i}", k, capacity=1) if k != "database" else TierSpec(f"t{i}", k)
             for i, k in enumerate(kinds)]
    with pytest.raises(UsageError, match=needle):
        build_chain(World(0), specs)
    with pytest.raises(UsageError, match="tier names must be unique"):
        build_chain(World(0), [TierSpec("x", "cdn", capacity=1), TierSpec("x", "database")])


def test_bad_model_parameter_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "hierarchy", "--set", "cdn_policy=zzz"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "policy must be one of" in err and "cdn" in err


# ------------------------------------------------- helpers for small worlds
class Recording:
    """Stands between the client and the chain and writes down (time, key, op) of each request."""

    def __init__(self, chain: TierChain) -> None:
        self.chain = chain
        self.node = chain.node
        self.log: list[tuple[float, Any, str]] = []

    def handle(self, req: Request) -> None:
        self.log.append((self.chain.env.now, req.key, req.op))
        self.chain.handle(req)


class Driver(Client):
    """A client whose requests (time, key, op, user) are chosen by the test; it keeps each outcome."""

    def __init__(self, world: World, chain: TierChain) -> None:
        super().__init__(world, "driver", chain.node, chain, Workload(10, 0.0, 0.0), timeout=10.0)
        self.log: list[tuple[int, str, str, str, int]] = []  # rid, op, outcome, served_by, wid

    def at(self, t: float, key: Any, op: str, user: int = 0) -> None:
        def go(_: Any) -> None:
            self._rid += 1
            self.issued += 1
            now = self.env.now
            self._send(now, key, op, 1, self._rid, now, 0, user)

        self.world.at(t - self.world.env.now, go)

    def reply(self, req: Request, t_app: float, outcome: str, detail: str) -> None:
        self.log.append((req.rid, req.op, outcome, req.served_by, req.wid))
        super().reply(req, t_app, outcome, detail)


# ----------------------------------------------- one tier == cache-aside replay
@pytest.mark.parametrize("seed", [0, 1])
def test_one_tier_chain_equals_a_cache_aside_replay(seed: int) -> None:
    hop, db_read, db_write, ttl = 0.001, 0.002, 0.003, 2.0
    world = World(seed)
    Network(world)
    chain = build_chain(world, [
        TierSpec("cache", "distributed", "lru", 50, ttl, f"const:{hop}", "const:0"),
        TierSpec("db", "database", service=f"const:{db_read}", workers=64, write_service=f"const:{db_write}"),
    ])
    front = Recording(chain)
    client = OpenLoopClient(world, "clients", chain.node, front, Workload(300, 0.8, 0.1), rate=400.0, timeout=5.0)
    client.stop_at = 20.0
    world.run(21.0)
    rec = world.recorder

    # the same key stream through a bare Cache: a read looks up on arrival and fills when the DB's answer is back
    # (hop down, read, hop up); a write deletes the key when its answer passes back (hop, write, hop)
    events: list[tuple[float, int, str, Any]] = []
    for t, key, op in front.log:
        if op == "read":
            events.append((t, 1, "get", key))
        else:
            events.append((t + hop + db_write + hop, 0, "del", key))
    clock = [0.0]
    cache = Cache("lru", 50, clock=lambda: clock[0])
    hits = misses = 0
    # fills are scheduled as misses happen, so keep every event in one time-ordered heap
    heap: list[tuple[float, int, int, str, Any]] = [(t, o, n, k, key) for n, (t, o, k, key) in enumerate(events)]
    heapq.heapify(heap)
    seq = len(heap)
    while heap:
        t, _, _, kind, key = heapq.heappop(heap)
        clock[0] = t
        if kind == "get":
            if cache.get(key) is not None:
                hits += 1
            else:
                misses += 1
                seq += 1
                heapq.heappush(heap, (t + hop + db_read + hop, 0, seq, "fill", key))
        elif kind == "fill":
            cache.set(key, None, 1, ttl=ttl)
        else:
            cache.delete(key)
    reads = sum(1 for _, _, op in front.log if op == "read")
    assert reads > 5000
    assert rec.total("cache", "hits") == hits
    assert rec.total("cache", "misses") == misses
    assert chain.db.reads == misses  # every miss read the DB once
    assert 0.2 < hits / reads < 0.9  # the comparison is not vacuous


# ------------------------------------------------------------- conservation
def test_reads_reaching_tier_k_plus_1_equal_misses_at_tier_k_exactly() -> None:
    mod = _hierarchy_module()
    p = get_model("hierarchy").make_params({"duration": 3.0, "rate": 2000.0, "lb_ttl": 5.0, "app_ttl": 5.0,
                                            "cdn_ttl": 2.0, "write_fraction": 0.05})
    s = mod.build(p, 4)
    s["world"].run(p.duration + 2.0)  # clients stop at duration; let everything in flight finish
    chain: TierChain = s["chain"]
    rec = s["world"].recorder
    names = chain.names
    req = [rec.total(n, "requests") for n in names]
    hits = [rec.total(n, "hits") for n in names]
    misses = [rec.total(n, "misses") for n in names]
    assert req[0] == chain.reads > 4000
    for k in range(len(names) - 1):
        assert req[k] == hits[k] + misses[k], names[k]
        assert req[k + 1] == misses[k], names[k]
        assert hits[k] > 0, names[k]  # every tier answers something in this configuration
    assert hits[-1] == req[-1] == chain.db.reads
    assert sum(rec.total(n, "reads_served") for n in names) == chain.reads
    # writes pass every tier and commit once each
    assert all(rec.total(n, "writes") == chain.writes for n in names) and chain.db.writes == chain.writes


# ----------------------------------------------------------- TTL-cache theory
@pytest.mark.parametrize(("kind", "copies"), [("cdn", 1), ("browser", 10)])
def test_first_tier_hit_ratio_matches_ttl_cache_theory(kind: str, copies: int) -> None:
    """A TTL cache filled on a miss and not refreshed by hits: per object lam*T / (1 + lam*T) (reset_on_hit=False)."""
    rate, alpha, n, ttl, duration, warmup = 1000.0, 0.8, 1000, 0.5, 25.0, 2.0
    world = World(11, warmup=warmup)
    Network(world)
    chain = build_chain(world, [
        TierSpec("edge", kind, "lru", 10 * n, ttl, "const:0", "const:0", copies=copies),
        TierSpec("db", "database", service="const:0", workers=8),
    ])
    client = OpenLoopClient(world, "clients", chain.node, chain, Workload(n, alpha, 0.0), rate=rate, timeout=5.0)
    client.stop_at = duration
    world.run(duration + 1.0)
    s = chain.summary(duration)["edge"]
    p = np.arange(1, n + 1, dtype=float) ** -alpha
    p /= p.sum()
    # each of the `copies` browsers sees its own Poisson stream at rate / copies
    rates = rate * p / copies
    expected = ttl_hit_ratio(rates, ttl, reset_on_hit=False)
    wrong = ttl_hit_ratio(rates, ttl, reset_on_hit=True)
    assert s["requests"] > 20_000
    assert s["hit_ratio"] == pytest.approx(expected, abs=0.01)
    assert abs(wrong - expected) > 0.03  # the tolerance tells the two TTL models apart


# --------------------------------------------------------------- staleness
def _stale_chain(tiers: list[TierSpec]) -> tuple[World, TierChain, Driver]:
    world = World(0)
    Network(world)
    chain = build_chain(world, [*tiers, TierSpec("db", "database", service="const:0.001", workers=4,
                                                 write_service="const:0.001")])
    return world, chain, Driver(world, chain)


def test_browser_and_cdn_serve_stale_until_max_age_while_invalidated_app_does_not() -> None:
    world, chain, d = _stale_chain([
        TierSpec("browser", "browser", capacity=10, ttl=10.0, hop="const:0.001", copies=2),
        TierSpec("cdn", "cdn", capacity=100, ttl=30.0, hop="const:0.001"),
        TierSpec("app", "app", capacity=100, ttl=60.0, hop="const:0.001"),
    ])
    d.at(0.0, 1, "read", user=0)   # all tiers miss: DB, version 0; fills app, CDN (until ~30), browser 0 (~10)
    d.at(1.0, 1, "write", user=0)  # commits version 1; the app's copy is deleted, browser and CDN keep version 0
    d.at(2.0, 1, "read", user=0)   # browser 0 hit: stale
    d.at(2.5, 1, "read", user=1)   # browser 1 miss, CDN hit: stale
    d.at(12.0, 1, "read", user=0)  # browser 0 expired at ~10: CDN hit, still stale
    d.at(31.0, 1, "read", user=1)  # browser 1 expired at ~12.5, CDN at ~30; the app was invalidated: DB, fresh
    world.run(40.0)
    served = [(o[3], o[4]) for o in d.log if o[1] == "read"]
    wid = chain.db.latest_wid[1]
    assert served == [("db", 0), ("browser", 0), ("cdn", 0), ("cdn", 0), ("db", wid)]
    rec = world.recorder
    assert rec.total("browser", "stale_reads") == 1
    assert rec.total("cdn", "stale_reads") == 2
    assert rec.total("app", "stale_reads") == 0 and rec.total("db", "stale_reads") == 0
    assert rec.total("app", "invalidations") == 1 and rec.total("cdn", "invalidations") == 0


@pytest.mark.parametrize(("invalidate", "served", "stale"), [(True, ["db", "db", "app"], 0),
                                                             (False, ["db", "app", "app"], 2)])
def test_app_cache_invalidation_on_or_off(invalidate: bool, served: list[str], stale: int) -> None:
    world, chain, d = _stale_chain([TierSpec("app", "app", capacity=100, ttl=60.0, hop="const:0.001",
                                             invalidate=invalidate)])
    d.at(0.0, 1, "read")
    d.at(1.0, 1, "write")
    d.at(2.0, 1, "read")
    d.at(31.0, 1, "read")
    world.run(40.0)
    assert [o[3] for o in d.log if o[1] == "read"] == served
    assert world.recorder.total("app", "stale_reads") == stale


# ---------------------------------------------------------------- the model
def test_hierarchy_latency_covers_the_hops_it_took_and_shares_add_up() -> None:
    mod = _hierarchy_module()
    hops = {"browser_hop": 0.02, "cdn_hop": 0.03, "lb_hop": 0.0005, "app_hop": 0.0003, "cache_hop": 0.0005}
    p = get_model("hierarchy").make_params({"duration": 2.0, "rate": 2000.0, "cdn_ttl": 1.0,
                                            **{k: f"const:{v}" for k, v in hops.items()}})
    s = mod.build(p, 2)
    chain: TierChain = s["chain"]
    chain.trace = []
    s["world"].run(p.duration + 1.0)
    down = list(hops.values())
    reached = set()
    for latency, served in chain.trace:
        reached.add(served)
        assert latency >= 2 * sum(down[:served]) - 1e-12
    assert reached == set(range(len(chain.names)))  # every tier served some reads
    summary = mod._summary(s, p)
    shares = sum(summary["latency_share_ms"].values())
    assert summary["read_latency_ms"]["mean"] == pytest.approx(shares, rel=1e-9)


def test_db_load_falls_as_cdn_ttl_grows() -> None:
    # short TTLs below the CDN, so that what the CDN lets through decides the DB load
    base = {"duration": 4.0, "rate": 1000.0, "n_objects": 2000, "app_ttl": 0.5, "lb_ttl": 0.2, "cache_ttl": 0.5,
            "browser_ttl": 0.5, "write_fraction": 0.0}
    loads = [run_model("hierarchy", base | {"cdn_ttl": ttl}, 5)["db_load_per_s"] for ttl in (0.25, 1.0, 4.0)]
    assert loads[0] > loads[1] > loads[2]
    assert loads[0] > 1.5 * loads[2]


def test_run_json_defaults_and_figures(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    p = get_model("hierarchy").make_params({})
    assert p.rate * p.duration >= 1e5
    assert main(["run", "hierarchy", "--duration", "1", "--set", "rate=500", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert set(s["hit_ratio"]) == {"browser", "cdn", "lb", "app", "redis"}
    assert {"p50", "p95", "p99", "p99_9"} <= set(s["latency_ms"])
    assert s["tiers"]["db"]["requests"] == s["db"]["reads"]
    r = run_model_full("hierarchy", {"duration": 1.0, "rate": 500.0}, 0)
    paths = hierarchy_figures(r, tmp_path)
    assert [x.name for x in paths] == ["tier_hit_ratio.png", "tier_load.png"]
    assert all(x.stat().st_size > 1000 for x in paths)
    with pytest.raises(UsageError, match="tier-chain model"):
        hierarchy_figures(run_model_full("mm1", {"duration": 100.0, "warmup": 1.0}, 0), tmp_path)
