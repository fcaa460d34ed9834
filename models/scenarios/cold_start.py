"""A cold start after a cache flush: Redis restarts empty, and the database takes every miss while it refills.

Runs the ``three-tier`` model (:mod:`models.three_tier`) twice on the same requests: Redis crashes at
``flush_at`` and comes back ``down`` seconds later empty (``crash``: no persistence, or a FLUSHALL), or with
its data (``crash-warm``: a restart that reloads a snapshot).  The database is sized so that the steady
miss stream fits and a cold one does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, ms, num, pct, positive, save, scenario, series, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    rate: float = 1500.0
    objects: int = 20_000
    flush_at: float = 15.0
    down: float = 0.5
    db_read_ms: float = 8.0
    db_connections: int = 6
    duration: float = 30.0

    def __post_init__(self) -> None:
        positive(self, "rate", "objects", "down", "db_read_ms", "db_connections", "duration")
        check(3 < self.flush_at < self.duration - 2, f"flush_at must be in (3, duration - 2), got {self.flush_at!r}")


def recovery(t: list[float], hit: list[float], flush_at: float, down: float) -> tuple[float, float]:
    """(hit ratio over the 3 windows before the flush, seconds after the restart until 90 % of it is back)."""
    before = [h for ti, h in zip(t, hit, strict=True) if flush_at - 3 <= ti < flush_at]
    level = sum(before) / len(before) if before else 0.0
    for ti, h in zip(t, hit, strict=True):
        if ti >= flush_at + down and h >= 0.9 * level:
            return level, ti - (flush_at + down)
    return level, float("nan")


def takeaways(p: Params, f: Findings) -> list[str]:
    cold, warm = f.table
    capacity = p.db_connections / (p.db_read_ms / 1000)
    out = [f"Before the flush Redis answered {pct(cold['hit_before'])} of its lookups and the database served "
           f"{num(cold['db_reads_before'])} reads/s (capacity about {num(capacity)}/s with {p.db_connections} "
           f"connections at {num(p.db_read_ms)} ms).",
           f"Restarting empty sent {num(cold['db_reads_peak'])} reads/s to the database at peak "
           f"({num(cold['db_reads_peak'] / max(cold['db_reads_before'], 1e-9), 3)}× before) and the worst p99 was "
           f"{ms(cold['p99_peak_ms'])}; the hit ratio took "
           + (f"{num(cold['recovery_s'])} s" if cold["recovery_s"] is not None else "longer than the run")
           + " to come back to 90 % of its level.",
           f"Restarting with its data, the peak was {num(warm['db_reads_peak'])} reads/s and the worst p99 "
           f"{ms(warm['p99_peak_ms'])}; the requests that met Redis down failed in both runs ({num(cold['errors'])} "
           f"and {num(warm['errors'])}), but only the empty restart paid for the refill afterwards."]
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(12, 3.5))
        for i, r in enumerate(f.table):
            d = f.data[r["restart"]]
            a.plot(*d["hit"], color=PALETTE[i], label=r["restart"])
            b.plot(*d["db"], color=PALETTE[i])
            c.plot(d["p99"][0], d["p99"][1], color=PALETTE[i])
        a.set_ylabel("Redis hit ratio")
        b.set_ylabel("database reads/s")
        b.axhline(p.db_connections / (p.db_read_ms / 1000), color="#555", linestyle=":", linewidth=1)
        c.set_ylabel("p99 per window (ms)")
        c.set_yscale("log")
        for ax in (a, b, c):
            ax.axvline(p.flush_at, color="#555", linestyle="--", linewidth=1)
            ax.set_xlabel("simulated time (s)")
        a.legend()
        fig.suptitle(f"Redis restarts at {p.flush_at:g} s: empty vs with its data")
    return [save(fig, out, "cold_start")]


@scenario("cold-start", "Redis restarts empty after a flush: the database takes every miss until it refills",
          topic="tiers-and-latency", question="A cold start after a cache flush", source="Production Best Practices",
          setup="{rate} requests/s (Zipf 0.9 over {objects} keys, 5 % writes), app near cache, cache-aside over Redis; "
          "a database of {db_connections} connections at {db_read_ms} ms per read; Redis crashes at {flush_at} s "
          "and is back {down} s later, empty or with its data; {duration} s each.",
          watch="Database reads per second against its capacity (the dotted line), p99 per window, and how long "
          "the hit ratio takes to return.",
          params=Params, quick={"rate": 1000.0, "duration": 20.0, "flush_at": 12.0, "db_connections": 4, "objects": 5_000}, runtime="8 s",
          takeaways=takeaways, figures=figures, needs=("three-tier",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    for label, kind in (("empty", "crash"), ("with its data", "crash-warm")):
        r = simulate("three-tier", {"rate": p.rate, "duration": p.duration, "db_read": f"exp:{p.db_read_ms / 1000}",
                                    "db_connections": p.db_connections, "n_objects": p.objects}, seed,
                     faults=[f"{kind}:redis@{p.flush_at:g}+{p.down:g}"])
        hit = series(r, "redis", "hit_ratio")
        db = series(r, "db", "reads_rate")
        p99 = series(r, "latency:all", "p99_ms")
        data[label] = {"hit": hit, "db": db, "p99": p99}
        level, rec = recovery(hit[0], hit[1], p.flush_at, p.down)
        before = [v for t, v in zip(*db, strict=True) if p.flush_at - 3 <= t < p.flush_at]
        after = [v for t, v in zip(*db, strict=True) if t >= p.flush_at]
        table.append({"restart": label, "hit_before": round(level, 4), "recovery_s": None if rec != rec else rec,
                      "db_reads_before": round(sum(before) / len(before), 1), "db_reads_peak": max(after),
                      "p99_peak_ms": round(max(x for t, x in zip(*p99, strict=True) if t >= p.flush_at), 1),
                      "p99_ms": round(r.summary["latency_ms"]["p99"], 2),
                      "errors": r.summary["outcomes"]["error"] + r.summary["outcomes"]["timeout"]})
    return Findings(table, {}, data=data)
