"""The cache-aside stale-set race, measured, against its estimate, and the fixes that close it.

Runs the ``consistency`` model (:mod:`models.consistency`, :mod:`simcache.sim.consistency`) once per
invalidation mode on the same workload and seed.  A reader that misses reads the database, a writer commits
and deletes the key, and the reader's ``SET`` of the old value lands after the delete: the key stays stale
until its TTL.  Delayed double delete, a versioned set and leases are the fixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, choices, ms, num, pct, positive, save, scenario, simulate

MODES = ("delete", "double-delete", "versioned", "lease", "update")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    modes: str = "delete,double-delete,versioned,lease"
    users: int = 100
    read_rate: float = 1000.0
    write_rate: float = 200.0
    db_read_ms: float = 30.0
    ttl: float = 300.0
    duration: float = 30.0

    def __post_init__(self) -> None:
        choices(self, "modes", MODES)
        positive(self, "users", "read_rate", "write_rate", "db_read_ms", "ttl", "duration")


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["invalidation"]: r for r in f.table}
    out = []
    if "delete" in rows:
        d = rows["delete"]
        est = d["estimate_per_write"]
        out.append(f"With delete-on-write, {num(d['stale_sets'])} of {num(d['db_writes'])} writes were followed by a "
                   f"stale set ({num(d['stale_sets_per_write'], 3)} per write; the first-order estimate says "
                   f"{num(est, 3) if est is not None else 'n/a'}), and {pct(d['stale_read_ratio'], 2)} of reads "
                   f"returned a superseded value, up to {ms(d['stale_age_p99_ms'])} old (p99).")
    fixes = [m for m in rows if m != "delete"]
    if fixes:
        best = min(fixes, key=lambda m: (rows[m]["stale_read_ratio"], rows[m]["stale_sets_per_write"]))
        b = rows[best]
        base = f" instead of {pct(rows['delete']['stale_read_ratio'], 2)}" if "delete" in rows else ""
        out.append(f"{best} left {pct(b['stale_read_ratio'], 2)} stale reads{base}, at "
                   f"{num(b['db_reads_per_s'])} database reads/s.")
    if "double-delete" in rows:
        dd = rows["double-delete"]
        out.append(f"The delayed double delete cut the stale time to {pct(dd['stale_time_fraction'], 2)} of "
                   f"key-seconds but still let {num(dd['stale_sets'])} stale sets stand until the second delete.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    names = [r["invalidation"] for r in f.table]
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
        a.bar(names, [r["stale_sets_per_write"] for r in f.table], color=PALETTE[0], label="measured")
        if f.table and f.table[0].get("estimate_per_write") is not None and names[0] == "delete":
            a.axhline(f.table[0]["estimate_per_write"], color=PALETTE[3], linestyle="--", label="estimate (delete)")
        a.set_ylabel("stale sets per write")
        a.set_title("The stale-set race")
        a.legend()
        b.bar(names, [r["stale_read_ratio"] * 100 for r in f.table], color=PALETTE[1])
        b.set_ylabel("stale reads (%)")
        b.set_title(f"{p.read_rate:g} reads/s, {p.write_rate:g} writes/s")
        for ax in (a, b):
            ax.tick_params(axis="x", rotation=20)
    return [save(fig, out, "stale_set_race")]


@scenario("stale-set-race", "cache-aside's stale set after a write, measured against its estimate; double "
          "delete, versioned sets and leases", topic="consistency",
          question="How to handle cache consistency in distributed systems?", source="Interview question 2",
          setup="{users} users x 4 fields read {read_rate}/s and written {write_rate}/s through two app servers "
          "with cache-aside over Redis; a database read takes {db_read_ms} ms on average, so a reader's fill "
          "can land after a writer's delete; TTL {ttl} s; {duration} s per mode: {modes}.",
          watch="Stale sets per write (and the estimate beside it), the share of reads that return a superseded "
          "value and how old it is, and what each fix costs in database reads.",
          params=Params, quick={"duration": 8.0, "read_rate": 600.0, "write_rate": 120.0}, runtime="13 s",
          takeaways=takeaways, figures=figures, needs=("consistency",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for mode in choices(p, "modes", MODES):
        s = simulate("consistency", {"invalidation": mode, "users": p.users, "read_rate": p.read_rate,
                                     "write_rate": p.write_rate, "db_read": f"exp:{p.db_read_ms / 1000}",
                                     "ttl": p.ttl, "duration": p.duration, "warmup": min(5.0, p.duration / 4)},
                     seed).summary
        est = s.get("stale_sets_per_write_estimate")
        table.append({"invalidation": mode, "db_writes": s["db"]["writes"], "stale_sets": s["stale_sets"],
                      "stale_sets_per_write": round(s["stale_sets_per_write"], 5),
                      "estimate_per_write": None if est is None else round(est, 5),
                      "stale_read_ratio": round(s["stale_read_ratio"], 5),
                      "stale_age_p99_ms": round(s["stale_age_ms"].get("p99", 0.0), 1),
                      "stale_time_fraction": round(s["stale_time_fraction"], 5),
                      "db_reads_per_s": round(s["db"]["reads"] / (p.duration - min(5.0, p.duration / 4)), 1),
                      "p99_ms": round(s["latency_ms"]["p99"], 2)})
    return Findings(table, {"modes": [r["invalidation"] for r in table]})
