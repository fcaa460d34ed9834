"""The seed's cache hierarchy end to end: browser -> CDN -> load balancer -> app cache -> Redis -> database.

Runs the ``hierarchy`` model (:mod:`models.hierarchy`, :mod:`simcache.sim.tiers`) with its TTL ladder, and
again with a longer CDN TTL, on the same requests: what each tier answers, the load that reaches it, and
where the stale reads come from (browsers and the CDN cannot be invalidated by the origin).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, ms, num, pct, positive, save, scenario, simulate

TIERS = ("browser", "cdn", "lb", "app", "redis", "db")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    rate: float = 2000.0
    cdn_ttl: float = 5.0
    long_cdn_ttl: float = 30.0
    write_fraction: float = 0.02
    duration: float = 20.0

    def __post_init__(self) -> None:
        positive(self, "rate", "cdn_ttl", "long_cdn_ttl", "duration")
        check(0 <= self.write_fraction < 1, f"write_fraction must be in [0, 1), got {self.write_fraction!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    rows = {r["tier"]: r for r in f.table}
    served = ", ".join(f"{t} {pct(rows[t]['share_served'])}" for t in TIERS)
    stale_top = rows["browser"]["stale_reads"] + rows["cdn"]["stale_reads"]
    return [f"Share of reads answered by each tier: {served}; the database saw {num(rows['db']['load_per_s'])} of "
            f"{num(p.rate)} requests/s.",
            f"{num(stale_top)} of the {num(n['stale'])} stale reads came from the browsers and the CDN, which the origin "
            f"cannot invalidate; the invalidated load balancer, app and Redis served "
            f"{num(n['stale'] - stale_top)}.",
            f"Raising the CDN TTL from {num(p.cdn_ttl)} s to {num(p.long_cdn_ttl)} s moved the CDN hit ratio from "
            f"{pct(rows['cdn']['hit_ratio'])} to {pct(n['long_cdn_hit'])}, the median latency from "
            f"{ms(n['p50_ms'])} to {ms(n['long_p50_ms'])}, and the stale reads from {num(n['stale'])} to "
            f"{num(n['long_stale'])}."]


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        a.bar(TIERS, [r["load_per_s"] for r in f.table], color=PALETTE[0])
        a.set_ylabel("reads reaching the tier per s")
        a.set_title("Each tier sees the misses of the ones above")
        a.bar(TIERS[:-1], [r["hit_ratio"] * r["load_per_s"] for r in f.table[:-1]], color=PALETTE[2],
              label="answered there")
        a.legend()
        b.bar(TIERS, [r["stale_reads"] for r in f.table], color=PALETTE[3])
        b.set_ylabel("stale reads served")
        b.set_title(f"Stale reads by tier (CDN TTL {p.cdn_ttl:g} s)")
    return [save(fig, out, "cache_hierarchy")]


@scenario("cache-hierarchy", "the seed's hierarchy diagram end to end: hit ratio, load and stale reads per tier, "
          "and a longer CDN TTL", topic="tiers-and-latency", question="The cache hierarchy (the seed's diagram)",
          source="Caching Fundamentals",
          setup="{rate} requests/s (Zipf 0.9 over 100,000 objects, {write_fraction} writes) through 1,000 browsers, "
          "a CDN (TTL {cdn_ttl} s), a load balancer cache, the app's near cache, Redis and the database; the same "
          "run with a CDN TTL of {long_cdn_ttl} s; {duration} s each.",
          watch="Each tier's hit ratio of what reaches it, the load left for the next, and which tiers serve the "
          "stale reads.",
          params=Params, quick={"rate": 1000.0, "duration": 8.0}, runtime="13 s",
          takeaways=takeaways, figures=figures, needs=("hierarchy",))
def run(p: Params, seed: int) -> Findings:
    base = {"rate": p.rate, "write_fraction": p.write_fraction, "duration": p.duration, "warmup": min(5.0, p.duration / 4)}
    s = simulate("hierarchy", {**base, "cdn_ttl": p.cdn_ttl}, seed).summary
    long = simulate("hierarchy", {**base, "cdn_ttl": p.long_cdn_ttl}, seed).summary
    served_total = sum(s["tiers"][t]["reads_served"] for t in TIERS) or 1
    table: list[dict[str, Any]] = []
    for t in TIERS:
        d = s["tiers"][t]
        table.append({"tier": t, "hit_ratio": round(d.get("hit_ratio", 1.0 if t == "db" else 0.0), 4),
                      "load_per_s": round(d["load_per_s"], 1), "reads_served": d["reads_served"],
                      "share_served": round(d["reads_served"] / served_total, 4), "stale_reads": d["stale_reads"]})
    numbers = {"stale": s["stale_reads"], "long_stale": long["stale_reads"], "p50_ms": s["latency_ms"]["p50"],
               "long_p50_ms": long["latency_ms"]["p50"], "long_cdn_hit": long["hit_ratio"].get("cdn", 0.0)}
    return Findings(table, numbers)
