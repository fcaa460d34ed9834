"""A caching layer for a recommendation system: large precomputed lists that all expire at a model refresh.

Runs the ``stampede`` model (:mod:`models.stampede`) with many keys (one recommendation list per segment) of
``value_kb`` KB each, filled together when the model is published, so they all expire together ``ttl``
seconds later — the refresh stampede — against a database (the feature store / ranking service) of
``db_connections`` connections and a ``recompute`` of seconds.  On-demand computation (no protection,
single flight) is compared with precomputation ahead of expiry (XFetch) and with serving the old list while
one background recompute runs (stale-while-revalidate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, ms, num, positive, save, scenario, simulate

VARIANTS = (("on demand", "none"), ("on demand, single flight", "single-flight"),
            ("precompute early (XFetch)", "xfetch"), ("serve stale, refresh behind (SWR)", "swr"))


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    segments: int = 100
    value_kb: float = 20.0
    rate: float = 1000.0
    recompute: float = 0.2
    ttl: float = 30.0
    db_connections: int = 16
    duration: float = 45.0

    def __post_init__(self) -> None:
        positive(self, "segments", "value_kb", "rate", "recompute", "ttl", "db_connections", "duration")


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["variant"]: r for r in f.table}
    n = f.numbers
    od, sf, xf, swr = (rows[v[0]] for v in VARIANTS)
    out = [f"{num(p.segments)} lists of {num(p.value_kb)} KB take {num(n['memory_mb'], 3)} MB of Redis memory; "
           f"when they expired together {num(p.ttl)} s after the model refresh, on-demand recomputation sent "
           f"{num(od['recomputes_per_expiry'])} recomputes per list to a database of {p.db_connections} connections, "
           f"and the worst window's p99 reached {ms(od['p99_peak_ms'])}.",
           f"Single flight cut that to {num(sf['recomputes_per_expiry'])} per list, but readers still waited for the "
           f"recompute: p99 peak {ms(sf['p99_peak_ms'])}.",
           f"Serving the old list while one background recompute runs kept the p99 peak at "
           f"{ms(swr['p99_peak_ms'])} with {num(swr['recomputes_per_expiry'])} recompute per list; precomputing "
           f"early (XFetch) gave {num(xf['recomputes_per_expiry'])} per list and {ms(xf['p99_peak_ms'])}."]
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    names = [r["variant"] for r in f.table]
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        a.barh(names, [r["recomputes_per_expiry"] for r in f.table], color=PALETTE[0])
        a.set_xlabel("recomputes per list per expiry")
        a.invert_yaxis()
        b.barh(names, [r["p99_peak_ms"] for r in f.table], color=PALETTE[3])
        b.set_xscale("log")
        b.set_xlabel("worst window's p99 (ms)")
        b.set_yticklabels([])
        b.invert_yaxis()
        fig.suptitle(f"{p.segments} recommendation lists expiring together, {p.recompute:g} s recompute")
    return [save(fig, out, "recommendations")]


@scenario("recommendations", "large precomputed recommendation lists expiring together at a model refresh: "
          "on-demand vs precomputed vs stale-while-revalidate", topic="stampedes",
          question="Create a caching layer for a recommendation system", source="System design scenario 4",
          setup="{segments} recommendation lists of {value_kb} KB, read {rate} times/s in all, filled together by "
          "a model refresh and living {ttl} s; a list takes {recompute} s to recompute on a service of "
          "{db_connections} connections; {duration} s per variant.",
          watch="Recomputes per list at the common expiry, the ranking service's busiest second, the p99 of the "
          "worst window, and what the lists cost in memory.",
          params=Params, quick={"segments": 40, "rate": 400.0, "ttl": 10.0, "duration": 16.0}, runtime="9 s",
          takeaways=takeaways, figures=figures, needs=("stampede",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    memory = 0.0
    for label, prot in VARIANTS:
        s = simulate("stampede", {"protection": prot, "keys": p.segments, "value_size": int(p.value_kb * 1024),
                                  "rate": p.rate, "recompute": f"const:{p.recompute}", "ttl": p.ttl,
                                  "db_connections": p.db_connections, "duration": p.duration}, seed).summary
        memory = max(memory, float(s["tiers"]["redis"].get("used_memory", 0.0)))
        table.append({"variant": label, "recomputes_per_expiry": round(s["recomputes_per_expiry"]["mean"], 2),
                      "db_peak_rps": s["db_peak_rps"], "p99_ms": round(s["latency_ms"]["p99"], 2),
                      "p99_peak_ms": round(s["latency_p99_peak_ms"], 1),
                      "errors": s["outcomes"]["error"] + s["outcomes"]["timeout"]})
    return Findings(table, {"memory_mb": memory / 2**20})
