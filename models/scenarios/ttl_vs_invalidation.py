"""TTL-only expiry against invalidation on write (delete, and the seed's event bus): staleness vs load.

Runs the ``consistency`` model (:mod:`models.consistency`) on one workload: TTL-only caching (writes go to
the database only, ``invalidation=none``) at a short and a long TTL, delete-on-write, and the seed's
``EventBasedCache`` over an event bus that loses ``loss`` of its messages and lists three of the four fields
(``settings`` is missing from its list).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, ms, num, pct, positive, ratio, save, scenario, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    short_ttl: float = 5.0
    long_ttl: float = 120.0
    loss: float = 0.01
    users: int = 200
    read_rate: float = 1000.0
    write_rate: float = 50.0
    duration: float = 40.0

    def __post_init__(self) -> None:
        positive(self, "short_ttl", "long_ttl", "users", "read_rate", "write_rate", "duration")
        check(0 <= self.loss <= 1, f"loss must be a probability in [0, 1], got {self.loss!r}")
        check(self.short_ttl < self.long_ttl, f"short_ttl must be < long_ttl, got {self.short_ttl!r}")


def variants(p: Params) -> list[tuple[str, dict[str, Any]]]:
    return [(f"ttl {p.short_ttl:g} s only", {"invalidation": "none", "ttl": p.short_ttl}),
            (f"ttl {p.long_ttl:g} s only", {"invalidation": "none", "ttl": p.long_ttl}),
            ("delete on write", {"invalidation": "delete", "ttl": p.long_ttl}),
            (f"event bus ({pct(p.loss, 0)} loss)", {"invalidation": "bus", "ttl": p.long_ttl, "loss": p.loss})]


def takeaways(p: Params, f: Findings) -> list[str]:
    s, lg, d, b = f.table
    out = [f"TTL alone trades staleness for load: at {p.short_ttl:g} s {pct(s['stale_read_ratio'], 2)} of reads were "
           f"stale and the database served {num(s['db_reads_per_s'])} reads/s; at {p.long_ttl:g} s "
           f"{pct(lg['stale_read_ratio'], 2)} were stale (p99 age {ms(lg['stale_age_p99_ms'])}) for "
           f"{num(lg['db_reads_per_s'])} reads/s.",
           f"Deleting on write (same {p.long_ttl:g} s TTL) cut stale reads to {pct(d['stale_read_ratio'], 2)} for "
           f"{num(d['db_reads_per_s'])} database reads/s ({ratio(d['db_reads_per_s'], lg['db_reads_per_s'])} the "
           f"TTL-only load, since every write now empties the key): what stays stale is the stale-set race."]
    out.append(f"The event bus left {pct(b['stale_read_ratio'], 2)} stale reads: {num(b['bus_lost'])} lost events "
               f"and the field its handler does not list stay stale until the {p.long_ttl:g} s TTL.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for i, r in enumerate(f.table):
            ax.scatter(r["db_reads_per_s"], r["stale_read_ratio"] * 100, s=60, color=PALETTE[i], label=r["variant"])
        ax.set_xlabel("database reads per second")
        ax.set_ylabel("stale reads (%)")
        ax.set_title("Staleness against database load")
        ax.legend()
    return [save(fig, out, "ttl_vs_invalidation")]


@scenario("ttl-vs-invalidation", "TTL-only expiry at two TTLs against delete-on-write and the seed's event bus: "
          "staleness against database load", topic="consistency",
          question="How to handle cache consistency in distributed systems?", source="Interview question 2",
          setup="{users} users x 4 fields, {read_rate} reads/s and {write_rate} writes/s, cache-aside over Redis; "
          "TTL-only at {short_ttl} s and {long_ttl} s, delete on write, and the seed's EventBasedCache over a "
          "bus losing {loss} of its events; {duration} s each.",
          watch="The stale-read share and the stale age against the database's reads per second: a short TTL "
          "buys freshness with load, invalidation buys it with correctness of the invalidation path.",
          params=Params, quick={"duration": 10.0, "read_rate": 500.0}, runtime="11 s",
          takeaways=takeaways, figures=figures, needs=("consistency",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    warm = min(5.0, p.duration / 4)
    for label, extra in variants(p):
        s = simulate("consistency", {"users": p.users, "read_rate": p.read_rate, "write_rate": p.write_rate,
                                     "duration": p.duration, "warmup": warm, **extra}, seed).summary
        table.append({"variant": label, "stale_read_ratio": round(s["stale_read_ratio"], 5),
                      "stale_age_p99_ms": round(s["stale_age_ms"].get("p99", 0.0), 1),
                      "hit_ratio": round(s["hit_ratio"].get("redis", 0.0), 4),
                      "db_reads_per_s": round(s["db"]["reads"] / (p.duration - warm), 1),
                      "bus_lost": s.get("bus", {}).get("lost"),
                      "p50_ms": round(s["latency_ms"]["p50"], 2)})
    return Findings(table, {})
