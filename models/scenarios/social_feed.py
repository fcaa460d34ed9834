"""A distributed cache for a social media feed: sharded timelines, a celebrity's hot key, and a server added.

Runs the ``sharding`` model (:mod:`models.sharding`, the pymemcache-like ``HashClient`` of
:mod:`simcache.sim.memcached`) with a steep Zipf popularity (``alpha``: the celebrity's timeline is the
hottest key), once per hashing scheme, adding ``count`` server(s) at ``change_at``: how evenly the servers
are loaded, what share of the traffic the celebrity's server takes, and how much of the cache a scale-out
invalidates (keys moved, the hit-ratio dip and its recovery).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, choices, num, pct, positive, save, scenario, simulate

SCHEMES = ("ketama", "modulo", "rendezvous")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    schemes: str = "ketama,modulo"
    servers: int = 4
    count: int = 1
    alpha: float = 1.1
    keys: int = 10_000
    rate: float = 2000.0
    change_at: float = 10.0
    duration: float = 25.0

    def __post_init__(self) -> None:
        choices(self, "schemes", SCHEMES)
        positive(self, "servers", "count", "alpha", "keys", "rate", "duration")
        check(3 < self.change_at < self.duration, f"change_at must be in (3, duration), got {self.change_at!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["scheme"]: r for r in f.table}
    first = f.table[0]
    out = [f"The celebrity's timeline alone took {pct(first['hottest_share'])} of all reads and the top 10 keys "
           f"{pct(first['top10_share'])}: its server carried {pct(first['hottest_server_load'])} of the traffic, "
           f"{num(first['max_mean_load'], 3)}× the mean, whatever the hashing — sharding spreads keys, not one key's "
           f"load; only replicating the hot key (or a near cache in front) spreads that."]
    moved = "; ".join(f"{s}: {pct(r['keys_moved_fraction'])} of the keys moved, hit ratio {pct(r['hit_before'])} → "
                      f"{pct(r['hit_dip'])} at worst, back in {num(r['recovery_s'])} s" for s, r in rows.items())
    ideal = first["ideal_moved_fraction"]
    out.append(f"Adding {p.count} server(s) to {p.servers} — {moved} (an ideal scheme moves {pct(ideal)}, the new servers' share).")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np

    from simcache.plots import PALETTE, style

    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        for i, r in enumerate(f.table):
            w = f.data["windows"][r["scheme"]]
            a.plot(np.arange(len(w)) * 1.0, w, color=PALETTE[i], label=r["scheme"])
            loads = f.data["load"][r["scheme"]]
            xs = np.arange(len(loads)) + (i - (len(f.table) - 1) / 2) * 0.8 / len(f.table)
            b.bar(xs, list(loads.values()), 0.8 / len(f.table), color=PALETTE[i], label=r["scheme"])
        a.axvline(p.change_at, color="#555", linestyle="--", linewidth=1)
        a.set_xlabel("simulated time (s)")
        a.set_ylabel("hit ratio per window")
        a.set_title(f"Adding {p.count} server(s) at {p.change_at:g} s")
        a.legend()
        b.set_xlabel("server")
        b.set_ylabel("share of requests")
        b.set_title(f"Load per server (Zipf {p.alpha:g})")
    return [save(fig, out, "social_feed")]


@scenario("social-feed", "sharded feed timelines with a celebrity's hot key, and a server added under ketama vs "
          "modulo hashing", topic="sharding", question="Design a distributed cache for a social media feed",
          source="System design scenario 3",
          setup="{keys} timelines read {rate} times/s with Zipf({alpha}) popularity (the celebrity first) from "
          "{servers} Memcached servers behind a hash client, cache-aside; {count} server(s) added at {change_at} s; "
          "{duration} s per scheme: {schemes}.",
          watch="The hottest server's share of the load (the hot key), the keys each scheme moves when a server "
          "joins, and the hit-ratio dip that follows.",
          params=Params, quick={"duration": 12.0, "change_at": 6.0, "rate": 1000.0}, runtime="4 s",
          takeaways=takeaways, figures=figures, needs=("sharding",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    loads: dict[str, Any] = {}
    windows: dict[str, list[float]] = {}
    for scheme in choices(p, "schemes", SCHEMES):
        s = simulate("sharding", {"scheme": scheme, "servers": p.servers, "count": p.count, "change": "add",
                                  "alpha": p.alpha, "keys": p.keys, "rate": p.rate, "change_at": p.change_at,
                                  "duration": p.duration}, seed).summary
        hk = s["hot_keys"]
        loads[scheme] = s["load"]
        table.append({"scheme": scheme, "keys_moved_fraction": round(s["keys_moved_fraction"], 4),
                      "ideal_moved_fraction": round(s["ideal_moved_fraction"], 4),
                      "hit_before": round(s["hit_ratio_before"], 4), "hit_dip": round(s["hit_ratio_dip"], 4),
                      "recovery_s": s["recovery_s"], "max_mean_load": round(s["max_mean_load"], 3),
                      "hottest_share": round(hk["hottest_share"], 4), "top10_share": round(hk["top10_share"], 4),
                      "hottest_server_load": round(hk["hottest_server_load"], 4)})
        windows[scheme] = [float(w) for w in s["hit_ratio_windows"]]
    return Findings(table, {}, data={"load": loads, "windows": windows})
