"""Cache-aside, read-through, write-through, write-behind, write-around and refresh-ahead on one workload.

Runs the ``three-tier`` model (:mod:`models.three_tier`; the strategies of :mod:`simcache.sim.seed` and
:mod:`simcache.sim.strategies`) once per strategy with the same requests (same seed) and the same app crash,
and compares what each costs and what each loses: read and write latency, database load, stale and dirty
reads, and the writes lost when write-behind's queue dies with the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, choices, ms, num, positive, save, scenario, simulate

STRATEGIES = ("cache-aside", "read-through", "write-through", "write-through-db-first", "write-behind",
              "write-around", "refresh-ahead")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    strategies: str = "cache-aside,read-through,write-through,write-through-db-first,write-behind,write-around,refresh-ahead"
    rate: float = 1000.0
    write_fraction: float = 0.2
    objects: int = 20_000
    ttl: float = 300.0
    duration: float = 20.0
    crash_at: float = 10.0

    def __post_init__(self) -> None:
        choices(self, "strategies", STRATEGIES)
        positive(self, "rate", "objects", "ttl", "duration")
        check(0 < self.write_fraction < 1, f"write_fraction must be in (0, 1), got {self.write_fraction!r}")
        check(0 <= self.crash_at < self.duration, f"crash_at must be in [0, duration), got {self.crash_at!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["strategy"]: r for r in f.table}
    out = []
    fastest = min(f.table, key=lambda r: r["write_p50_ms"])
    slowest = max(f.table, key=lambda r: r["write_p50_ms"])
    out.append(f"Writes: {fastest['strategy']} answered in {ms(fastest['write_p50_ms'])} (median), "
               f"{slowest['strategy']} in {ms(slowest['write_p50_ms'])}.")
    lost = [r for r in f.table if r["writes_lost"]]
    if lost:
        out.append("When the app crashed at " + f"{num(p.crash_at)} s, "
                   + ", ".join(f"{r['strategy']} lost {num(r['writes_lost'])} acknowledged writes" for r in lost)
                   + " (its queue died with the app); the others lost none.")
    else:
        out.append(f"No strategy lost an acknowledged write in the crash at {num(p.crash_at)} s.")
    stalest = max(f.table, key=lambda r: r["stale_reads"])
    cleanest = min(f.table, key=lambda r: (r["stale_reads"] + r["dirty_reads"], r["db_ops_per_s"]))
    out.append(f"{stalest['strategy']} served {num(stalest['stale_reads'])} stale reads, "
               f"{cleanest['strategy']} {num(cleanest['stale_reads'])} stale and {num(cleanest['dirty_reads'])} dirty.")
    low = min(f.table, key=lambda r: r["db_ops_per_s"])
    high = max(f.table, key=lambda r: r["db_ops_per_s"])
    out.append(f"The database saw {num(low['db_ops_per_s'])} operations/s under {low['strategy']} and "
               f"{num(high['db_ops_per_s'])} under {high['strategy']}.")
    if "write-through" in rows and rows["write-through"]["dirty_reads"]:
        out.append(f"The seed's write-through (cache first) served {num(rows['write-through']['dirty_reads'])} dirty "
                   f"reads: values cached before their database write had committed.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    names = [r["strategy"] for r in f.table]
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
        for ax, key, title, colour in ((axes[0], "write_p50_ms", "write latency p50 (ms)", PALETTE[0]),
                                       (axes[1], "db_ops_per_s", "database operations/s", PALETTE[1]),
                                       (axes[2], "stale_reads", "stale reads", PALETTE[3])):
            ax.barh(names, [r[key] for r in f.table], color=colour)
            ax.set_title(title)
            ax.invert_yaxis()
        for ax in axes[1:]:
            ax.set_yticklabels([])
        for i, r in enumerate(f.table):
            if r["writes_lost"]:
                axes[2].annotate(f"{r['writes_lost']} writes lost", (0, i), va="center", fontsize=8, color="#000")
    return [save(fig, out, "write_strategies")]


@scenario("write-strategies", "cache-aside, read-through, write-through, write-behind, write-around, "
          "refresh-ahead on one workload with an app crash", topic="write-strategies",
          question="When to use different caching strategies?", source="Interview question 5",
          setup="{rate} requests/s over {objects} keys (Zipf 0.9), {write_fraction} of them writes, through an app "
          "(no near cache) over Redis (TTL {ttl} s) and a database; the app crashes at {crash_at} s for 1 s; "
          "{duration} s per strategy, the same requests each time.",
          watch="Write latency (who waits for the database), database load, stale and dirty reads, and the "
          "acknowledged writes that die with the app.",
          params=Params, quick={"duration": 6.0, "crash_at": 3.0, "rate": 500.0}, runtime="11 s",
          takeaways=takeaways, figures=figures, needs=("three-tier",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for strat in choices(p, "strategies", STRATEGIES):
        s = simulate("three-tier", {"strategy": strat, "rate": p.rate, "write_fraction": p.write_fraction,
                                    "n_objects": p.objects, "app_cache": 0, "ttl": p.ttl, "duration": p.duration},
                     seed, faults=[f"crash:app@{p.crash_at:g}+1"]).summary
        table.append({"strategy": strat, "read_p50_ms": round(s["read_latency_ms"]["p50"], 2),
                      "write_p50_ms": round(s["write_latency_ms"]["p50"], 2),
                      "p99_ms": round(s["latency_ms"]["p99"], 2), "db_ops_per_s": round(s["db"]["ops_per_s"], 1),
                      "hit_ratio": round(s["hit_ratio"].get("redis", 0.0), 4), "stale_reads": s["stale_reads"],
                      "dirty_reads": s["dirty_reads"], "writes_lost": s["writes_lost"],
                      "errors": s["outcomes"]["error"] + s["outcomes"]["timeout"]})
    return Findings(table, {})
