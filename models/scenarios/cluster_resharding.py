"""Redis Cluster under traffic: a resharding (MOVED and ASK redirections), then a master's host goes down.

Runs the ``cluster`` model (:mod:`models.cluster`, :mod:`simcache.sim.redis.cluster` and the redis-py-like
cluster client): ``masters`` masters with one replica each and the seed's ``cluster-node-timeout 5000``;
``reshard_slots`` slots move from ``redis-1`` to ``redis-2`` at ``reshard_at`` while the client keeps going,
and ``redis-0``'s host goes down at ``fault_at`` (its replica is elected and promoted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simcache.scenarios import Findings, check, num, pct, positive, save, scenario, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    masters: int = 3
    rate: float = 300.0
    reshard_slots: int = 500
    reshard_at: float = 10.0
    fault_at: float = 30.0
    duration: float = 45.0

    def __post_init__(self) -> None:
        positive(self, "masters", "rate", "reshard_slots", "duration")
        check(self.masters >= 3, f"masters must be >= 3 (a cluster needs a majority), got {self.masters!r}")
        check(0 < self.reshard_at < self.fault_at < self.duration - 5,
              f"need 0 < reshard_at < fault_at < duration - 5, got reshard_at={self.reshard_at!r}, "
              f"fault_at={self.fault_at!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    r = f.table[0]
    fo = f.numbers
    return [f"Moving {num(r['slots_moved'])} slots ({num(r['keys_moved'])} keys) took {num(r['reshard_s'], 3)} s under "
            f"traffic; the client followed {num(r['moved'])} MOVED and {num(r['ask'])} ASK redirections and re-read the "
            f"slot map {num(r['map_refreshes'])} times; {num(r['reshard_failed'])} requests failed while the slots "
            f"moved.",
            f"When redis-0's host went down, its slots had no master until its replica was promoted "
            f"{num(fo['promoted_at'], 3)} s later (PFAIL at {num(fo['pfail_at'], 3)} s, FAIL at "
            f"{num(fo['fail_at'], 3)} s, node timeout 5 s): {num(r['timeouts'])} requests timed out and "
            f"{num(r['clusterdown'])} met CLUSTERDOWN, {pct(r['failed_fraction'], 2)} of the run's requests; "
            f"{num(r['acknowledged_writes_lost'])} acknowledged writes were lost."]


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    t, ok, failed = f.data["availability"]
    with style():
        fig, ax = plt.subplots(figsize=(7.5, 3.4))
        ax.plot(t, ok, color=PALETTE[2], label="ok per s")
        ax.plot(t, failed, color=PALETTE[3], label="failed per s")
        for x, label in ((p.reshard_at, "reshard"), (p.fault_at, "redis-0 down")):
            ax.axvline(x, color="#555", linestyle="--", linewidth=1)
            ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                        fontsize=8)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("requests per second")
        ax.set_title(f"Redis Cluster, {p.masters} masters + replicas")
        ax.legend()
    return [save(fig, out, "cluster_resharding")]


@scenario("cluster-resharding", "Redis Cluster under traffic: a resharding with MOVED/ASK, then a master's host "
          "down and its replica's election", topic="sharding", question="Redis Cluster and scaling: a resharding "
          "and a master failure", source="Redis Cluster & Scaling",
          setup="{masters} masters with a replica each, {rate} ops/s (half writes) over 1,000 keys through a cluster "
          "client; {reshard_slots} slots move from redis-1 to redis-2 at {reshard_at} s; redis-0's host goes down "
          "at {fault_at} s; {duration} s.",
          watch="Redirections during the move, the seconds a failed master's slots are unserved, and the requests "
          "that fail meanwhile.",
          params=Params, quick={"rate": 200.0, "duration": 40.0, "fault_at": 25.0}, runtime="2 s",
          takeaways=takeaways, figures=figures, needs=("cluster",))
def run(p: Params, seed: int) -> Findings:
    s = simulate("cluster", {"masters": p.masters, "rate": p.rate, "reshard_slots": p.reshard_slots,
                             "reshard_at": p.reshard_at, "fault": "crash", "fault_at": p.fault_at,
                             "duration": p.duration}, seed).summary
    total = s["outcomes"]["ok"] + s["outcomes"]["error"] + s["outcomes"]["timeout"]
    row = {"slots_moved": s["slots_moved"], "keys_moved": s["keys_moved"], "reshard_s": round(s["reshard_s"], 3),
           "moved": s["moved"], "ask": s["ask"], "map_refreshes": s["map_refreshes"],
           "timeouts": s["outcomes"]["timeout"], "clusterdown": s["clusterdown"],
           "failed_fraction": round((total - s["outcomes"]["ok"]) / max(total, 1), 5),
           "unavailable_s": s["unavailable_s"], "acknowledged_writes_lost": s["acknowledged_writes_lost"]}
    fo = s["failover"]
    avail = s["availability"]
    end = p.reshard_at + s["reshard_s"] + 1.0
    row["reshard_failed"] = sum(a["failed"] for a in avail if p.reshard_at <= a["t"] < min(end, p.fault_at))
    data = {"availability": ([a["t"] for a in avail], [a["ok"] for a in avail], [a["failed"] for a in avail])}
    return Findings([row], {k: fo.get(k) for k in ("pfail_at", "fail_at", "elected_at", "promoted_at")},
                    data=data)
