"""A hot key expiring under load: the seed's ``StampedeProtection`` against the known protections.

Runs the ``stampede`` model (:mod:`models.stampede`, :mod:`simcache.sim.stampede`) once per protection on
the same workload and seed: the number of recomputes each expiry sends to the database, the database's
busiest second, the worst window's p99, and the cache polls that waiting costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, choices, ms, num, positive, save, scenario, simulate

PROTECTIONS = ("none", "seed-lock", "single-flight", "xfetch", "swr", "jitter", "lease")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    protections: str = "none,seed-lock,single-flight,xfetch,swr,lease"
    rate: float = 1000.0
    recompute: float = 0.1
    ttl: float = 10.0
    processes: int = 4
    beta: float = 1.0
    duration: float = 60.0

    def __post_init__(self) -> None:
        choices(self, "protections", PROTECTIONS)
        positive(self, "rate", "recompute", "ttl", "processes", "beta", "duration")


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    rows = {r["protection"]: r for r in f.table}
    out = []
    if "none" in rows:
        r = rows["none"]
        th = r["theory_recomputes"]
        out.append(f"Unprotected, each expiry of the hot key sent {num(r['recomputes_per_expiry'])} recomputes to the "
                   f"database at once (theory 1 + r·w: {num(th) if th is not None else 'n/a'}); the database's "
                   f"busiest second saw {num(r['db_peak_rps'])} queries and p99 in that window reached "
                   f"{ms(r['p99_peak_ms'])}.")
    best = n["fewest"]
    if "none" in rows and best != "none":
        b, r = rows[best], rows["none"]
        out.append(f"With {best} the database saw {num(b['recomputes_per_expiry'])} recomputes per expiry instead of "
                   f"{num(r['recomputes_per_expiry'])}, and the worst window's p99 was {ms(b['p99_peak_ms'])} "
                   f"instead of {ms(r['p99_peak_ms'])}.")
    if "seed-lock" in rows:
        s = rows["seed-lock"]
        out.append(f"The seed's lock cut recomputes to {num(s['recomputes_per_expiry'])} per expiry, but its waiters "
                   f"sleep 100 ms and poll: {num(s['waiting_cache_commands'])} extra cache commands, and p99 of "
                   f"{ms(s['p99_ms'])} overall.")
    if "xfetch" in rows:
        x = rows["xfetch"]
        out.append(f"XFetch (beta {p.beta}) recomputed {num(x['recomputes_per_expiry'])} times per expiry, early and "
                   f"by one request at a time, so no reader waited: p99 peak {ms(x['p99_peak_ms'])}.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    names = [r["protection"] for r in f.table]
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
        a.bar(names, [max(r["recomputes_per_expiry"], 1e-3) for r in f.table], color=PALETTE[0])
        a.set_yscale("log")
        a.set_ylabel("recomputes per expiry")
        a.set_title(f"Hot key at {p.rate:g} req/s, {p.recompute * 1000:g} ms recompute")
        b.bar(names, [r["p99_peak_ms"] for r in f.table], color=PALETTE[3])
        b.set_yscale("log")
        b.set_ylabel("worst window's p99 (ms)")
        b.set_title("Latency during the expiry")
        for ax in (a, b):
            ax.tick_params(axis="x", rotation=30)
    return [save(fig, out, "stampede_protections")]


@scenario("stampede", "a hot key expires under load: the seed's lock vs single flight, XFetch, "
          "stale-while-revalidate, leases", topic="stampedes",
          question="How to stop a cache stampede? (the seed's StampedeProtection)",
          source="Cache Stampede Prevention",
          setup="One hot key read {rate} times/s through {processes} app processes; its value takes {recompute} s to "
          "recompute and lives {ttl} s in Redis; {duration} s per protection: {protections}.",
          watch="Recomputes per expiry (the herd), the database's busiest second, the p99 of the worst window, "
          "and the cache commands the waiters spend polling.",
          params=Params, quick={"rate": 400.0, "duration": 21.0}, runtime="21 s",
          takeaways=takeaways, figures=figures, needs=("stampede",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for prot in choices(p, "protections", PROTECTIONS):
        s = simulate("stampede", {"protection": prot, "rate": p.rate, "recompute": f"const:{p.recompute}",
                                  "ttl": p.ttl, "processes": p.processes, "beta": p.beta, "duration": p.duration},
                     seed).summary
        th = s.get("theory", {}).get("recomputes_per_expiry")
        table.append({"protection": prot, "recomputes_per_expiry": round(s["recomputes_per_expiry"]["mean"], 2),
                      "theory_recomputes": None if th is None else round(th, 2),
                      "db_peak_rps": s["db_peak_rps"], "p99_ms": round(s["latency_ms"]["p99"], 2),
                      "p99_peak_ms": round(s["latency_p99_peak_ms"], 2),
                      "waiting_cache_commands": s["waiting_cache_commands"],
                      "errors": int(s["outcomes"]["error"] + s["outcomes"]["timeout"])})
    fewest = min(table, key=lambda r: (r["recomputes_per_expiry"], r["p99_peak_ms"]))["protection"]
    return Findings(table, {"fewest": fewest, "protections": [r["protection"] for r in table]})
