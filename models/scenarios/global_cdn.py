"""A global CDN: one edge cache per region over a WAN to the origin, an optional origin shield, and a purge.

Composed from the tier chain of :mod:`simcache.sim.tiers` (the pieces of ``models/hierarchy.py``): each
region's clients reach their edge (a :class:`~simcache.sim.tiers.ProxyCache` that the origin cannot
invalidate, so it serves its copy until its TTL), whose misses cross the region's WAN latency to the origin
shield (a shared ``ProxyCache`` at the origin, invalidated on writes) or, without one, straight to the app
(cache-aside over Redis and the database).  At ``purge_at`` every edge drops its whole cache
(``Cache.clear``), as a "purge all" does.  The run is made twice, with and without the shield, on the same
requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from simcache.scenarios import Findings, check, ms, num, pct, positive, save, scenario, series
from simcache.sim.app import App
from simcache.sim.clients import OpenLoopClient, Workload
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.dists import Dist
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.server import KEY_OVERHEAD
from simcache.sim.report import SimResult
from simcache.sim.runner import System, simulate_system
from simcache.sim.seed import SeedCache
from simcache.sim.strategies import make_strategy
from simcache.sim.tiers import ProxyCache, tier_table
from simcache.sim.world import World


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds; ``regions`` as ``name:share:wan_ms`` items, shares summing to 1)."""

    regions: str = "us:0.5:5,eu:0.3:40,asia:0.2:90"
    rate: float = 2000.0
    objects: int = 50_000
    alpha: float = 0.9
    write_fraction: float = 0.01
    edge_capacity: int = 10_000
    edge_ttl: float = 30.0
    shield_capacity: int = 50_000
    shield_ttl: float = 60.0
    purge_at: float = 20.0
    duration: float = 40.0
    warmup: float = 5.0

    def __post_init__(self) -> None:
        positive(self, "rate", "objects", "edge_capacity", "edge_ttl", "shield_capacity", "shield_ttl", "duration")
        check(self.alpha >= 0, f"alpha must be >= 0, got {self.alpha!r}")
        check(0 <= self.write_fraction < 1, f"write_fraction must be in [0, 1), got {self.write_fraction!r}")
        check(0 <= self.warmup < self.purge_at < self.duration,
              f"purge_at must be after warmup and before duration, got {self.purge_at!r}")
        self.region_list()

    def region_list(self) -> list[tuple[str, float, float]]:
        """``[(name, share, wan_seconds)]``."""
        out = []
        for item in self.regions.split(","):
            parts = item.strip().split(":")
            try:
                name, share, wan = parts[0], float(parts[1]), float(parts[2]) / 1000
            except (IndexError, ValueError):
                raise ValueError(f"regions must be name:share:wan_ms items separated by ',', got {item!r}") from None
            check(bool(name) and share > 0 and wan >= 0, f"regions: bad item {item!r}")
            out.append((name, share, wan))
        check(len({r[0] for r in out}) == len(out), f"regions: names must be distinct, got {self.regions!r}")
        check(abs(sum(r[1] for r in out) - 1) < 1e-6, f"regions: shares must sum to 1, got {self.regions!r}")
        return out


def build(p: Params, seed: int, shield: bool) -> System:
    """Regions' clients -> their edges -> (shield) -> app -> Redis / database."""
    world = World(seed, window=1.0, warmup=p.warmup)
    net = world.network
    for n, kind in (("app", "app"), ("redis", "cache"), ("db", "db")):
        net.add_node(n, kind)
    net.add_link("app", "redis", "lognormal:0.0003,0.3")
    net.add_link("app", "db", "lognormal:0.0005,0.3")
    db = Database(world, "db", read_service="exp:0.005", write_service="exp:0.005", connections=64)
    redis = RedisServer(world, "redis", service="exp:0.0001", maxmemory=p.objects * (KEY_OVERHEAD + 106),
                        maxmemory_policy="allkeys-lru")

    def factory(app: App) -> Any:
        return make_strategy("cache-aside", SeedCache(Redis(world, app, redis)), DatabaseClient(world, app, db),
                             ttl=600)

    app = App(world, "app", factory, cpu="const:0.0005")
    origin: Any = app
    kinds: dict[str, str] = {}
    if shield:
        net.add_node("shield", "lb")
        net.add_link("shield", "app", "const:0.0005")
        origin = ProxyCache(world, "shield", app, p.shield_capacity, p.shield_ttl, "lru", "exp:0.0001", 32,
                            invalidate=True)
    wl = Workload(p.objects, p.alpha, p.write_fraction, Dist("constant", 100.0))
    clients = []
    edges = []
    for name, share, wan in p.region_list():
        net.add_node(f"clients_{name}", "client")
        net.add_node(f"edge_{name}", "cdn")
        net.add_link(f"clients_{name}", f"edge_{name}", "lognormal:0.01,0.3")
        net.add_link(f"edge_{name}", "shield" if shield else "app", f"const:{wan}")
        edge = ProxyCache(world, f"edge_{name}", origin, p.edge_capacity, p.edge_ttl, "lru", "exp:0.0005", 64)
        edges.append(edge)
        kinds[edge.name] = "cdn"
        c = OpenLoopClient(world, f"clients_{name}", f"clients_{name}", cast(App, edge), wl, p.rate * share,
                           timeout=5.0)
        c.stop_at = p.duration
        clients.append(c)
    if shield:
        kinds["shield"] = "lb"
    kinds.update({"app": "app", "redis": "distributed", "db": "database"})

    def purge() -> Any:
        yield world.env.timeout(p.purge_at)
        for e in edges:
            assert e.cache is not None
            e.cache.clear()
        world.recorder.mark(world.env.now, "edges", "purge", "every edge dropped its cache")

    world.process(purge())
    return System(world, clients, list(kinds), db, {"kinds": kinds, "edges": edges})


def simulate(p: Params, seed: int, shield: bool) -> tuple[SimResult, dict[str, dict[str, Any]]]:
    system = build(p, seed, shield)
    result = simulate_system(system, p.duration)
    return result, tier_table(system.world, p.duration, system.parts["kinds"])


def origin_load(result: SimResult, p: Params) -> tuple[float, float]:
    """Requests reaching the app per second: mean over the measured span before the purge, and the peak after."""
    t, v = series(result, "app", "requests_rate")
    before = [x for ti, x in zip(t, v, strict=True) if p.warmup < ti <= p.purge_at]
    after = [x for ti, x in zip(t, v, strict=True) if ti > p.purge_at]
    return (sum(before) / len(before) if before else 0.0), (max(after) if after else 0.0)


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    rows = sorted(f.table, key=lambda r: r["edge_hit_ratio"])
    lo, hi = rows[0], rows[-1]
    by_region = ", ".join(f"{r['region']} {pct(r['edge_hit_ratio'])}" for r in f.table)
    out = [f"Edge hit ratio by region: {by_region}; "
           f"{lo['region']} ({num(lo['rate'])} req/s) hits least, since a smaller region fetches each popular object "
           f"once per {num(p.edge_ttl)} s TTL like a big one but has fewer requests to spread that miss over."
           if lo["region"] != hi["region"] else
           f"The edge hit ratio was {pct(lo['edge_hit_ratio'])}."]
    out.append(f"The origin shield answered {pct(n['shield_hit_ratio'])} of the edges' misses: the app saw "
               f"{num(n['origin_rps_shield'])} requests/s instead of {num(n['origin_rps_direct'])} without it.")
    out.append(f"Purging every edge at {num(p.purge_at)} s sent the app {num(n['purge_peak_direct'])} requests/s "
               f"at peak without the shield ({num(n['purge_peak_direct'] / max(n['origin_rps_direct'], 1e-9), 2)}× "
               f"its usual load) and {num(n['purge_peak_shield'])} with it.")
    out.append(f"Edges are never invalidated by the origin: {num(n['edge_stale_reads'])} reads "
               f"({pct(n['edge_stale_fraction'], 2)}) were served stale by an edge, up to its {num(p.edge_ttl)} s TTL; "
               f"p50 latency {ms(n['p50_ms_shield'])}, p99 {ms(n['p99_ms_shield'])} with the shield.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        a.bar([r["region"] for r in f.table], [r["edge_hit_ratio"] for r in f.table], color=PALETTE[0])
        a.set_ylim(0, 1)
        a.set_ylabel("edge hit ratio")
        a.set_title(f"Edge hit ratio by region (TTL {p.edge_ttl:g} s)")
        for i, (label, key) in enumerate((("no shield", "direct"), ("with shield", "shield"))):
            t, v = f.data[f"origin_{key}"]
            b.plot(t, v, color=PALETTE[i + 1], label=label)
        b.axvline(p.purge_at, color="#555", linestyle="--", linewidth=1)
        b.annotate("purge", (p.purge_at, 1.0), xycoords=("data", "axes fraction"), va="top", ha="right",
                   rotation=90, fontsize=8)
        b.set_xlabel("simulated time (s)")
        b.set_ylabel("requests reaching the app per s")
        b.set_title("Origin load")
        b.legend()
    return [save(fig, out, "global_cdn")]


@scenario("global-cdn", "edge caches per region over a WAN, an origin shield, edge TTLs, and a purge of every "
          "edge", topic="tiers-and-latency", question="Design a global CDN cache system",
          source="System design scenario 1",
          setup="{rate} requests/s over {objects} objects (Zipf {alpha}, {write_fraction} writes) from regions "
          "{regions} (name:share:WAN ms to the origin); each edge holds {edge_capacity} objects for {edge_ttl} s; "
          "the shield {shield_capacity} for {shield_ttl} s; every edge is purged at {purge_at} s; {duration} s, "
          "run with and without the shield.",
          watch="Hit ratio by region (smaller regions hit less), the load reaching the origin with and without "
          "the shield, the origin's spike after the purge, and the stale reads edges serve after writes.",
          params=Params, quick={"rate": 600.0, "objects": 10_000, "edge_capacity": 3_000, "shield_capacity": 10_000,
                                "duration": 16.0, "purge_at": 10.0, "warmup": 2.0, "edge_ttl": 10.0},
          runtime="19 s", takeaways=takeaways, figures=figures)
def run(p: Params, seed: int) -> Findings:
    direct, tiers_direct = simulate(p, seed, shield=False)
    shielded, tiers = simulate(p, seed, shield=True)
    table = []
    for name, share, wan in p.region_list():
        t = tiers[f"edge_{name}"]
        table.append({"region": name, "rate": p.rate * share, "wan_ms": wan * 1000,
                      "edge_hit_ratio": round(t.get("hit_ratio", 0.0), 4), "edge_load_per_s": round(t["load_per_s"], 1),
                      "stale_reads": t["stale_reads"],
                      "edge_hit_ratio_no_shield": round(tiers_direct[f"edge_{name}"].get("hit_ratio", 0.0), 4)})
    before_d, peak_d = origin_load(direct, p)
    before_s, peak_s = origin_load(shielded, p)
    s = shielded.summary
    stale = sum(r["stale_reads"] for r in table)
    served = sum(tiers[f"edge_{r['region']}"]["reads_served"] for r in table)
    judged = served + sum(tiers[k]["reads_served"] for k in ("shield", "app", "redis", "db"))
    numbers = {"shield_hit_ratio": tiers["shield"].get("hit_ratio", 0.0), "origin_rps_direct": before_d,
               "origin_rps_shield": before_s, "purge_peak_direct": peak_d, "purge_peak_shield": peak_s,
               "edge_stale_reads": stale, "edge_stale_fraction": stale / judged if judged else 0.0,
               "p50_ms_shield": s["latency_ms"]["p50"], "p99_ms_shield": s["latency_ms"]["p99"],
               "p50_ms_direct": direct.summary["latency_ms"]["p50"]}
    return Findings(table, numbers, data={"origin_direct": series(direct, "app", "requests_rate"),
                                          "origin_shield": series(shielded, "app", "requests_rate")})
