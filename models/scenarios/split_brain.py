"""Split brain: a master cut off with some of its clients goes on taking their writes; the rejoin discards them.

Runs the ``split-brain`` model (:mod:`models.split_brain`, :mod:`simcache.sim.redis.sentinel`): the seed's
Sentinel setup (a master, two replicas, three sentinels, quorum 2, ``down-after-milliseconds`` 5000), one
client beside the master and one with the majority.  The network splits the master and its client from the
rest; the majority fails over; when the partition heals, Sentinel converts the old master into a replica and
its full resync throws away everything it acknowledged alone.  One run per ``min-replicas-to-write``
setting, on the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, num, positive, save, scenario, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    min_replicas: str = "0,1"
    min_replicas_max_lag: int = 10
    rate: float = 100.0
    fault_at: float = 30.0
    fault_duration: float = 40.0
    duration: float = 100.0

    def __post_init__(self) -> None:
        positive(self, "min_replicas_max_lag", "rate", "fault_duration", "duration")
        check(self.fault_at >= 0, f"fault_at must be >= 0 seconds, got {self.fault_at!r}")
        check(self.fault_at + self.fault_duration + 15 <= self.duration,
              "duration must leave 15 s after the partition heals (the old master's conversion), got "
              f"{self.duration!r}")
        for v in self.settings:
            check(0 <= v <= 2, f"min_replicas values must be integers in [0, 2] (two replicas), got {v!r}")

    @property
    def settings(self) -> list[int]:
        """The ``min-replicas-to-write`` values to compare."""
        try:
            return [int(x) for x in str(self.min_replicas).split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"min_replicas must be integers separated by commas, got {self.min_replicas!r}") from None


def takeaways(p: Params, f: Findings) -> list[str]:
    out = []
    for r in f.table:
        if r["stopped_s"] is None:
            stop = "accepted writes for the whole partition and after it, until its conversion"
        else:
            stop = f"refused writes (NOREPLICAS) {num(r['stopped_s'], 3)} s after the split"
        out.append(f"min-replicas-to-write {r['min_replicas_to_write']}: the isolated master {stop}; it "
                   f"acknowledged {num(r['isolated_writes_acked'])} writes alone, and "
                   f"{num(r['acknowledged_writes_lost'])} acknowledged writes were lost when it rejoined "
                   f"(converted {num(r['converted_s'], 3)} s after the split).")
    by = {r["min_replicas_to_write"]: r for r in f.table}
    if 0 in by and any(k > 0 for k in by):
        k = min(x for x in by if x > 0)
        a, b = by[0]["acknowledged_writes_lost"], by[k]["acknowledged_writes_lost"]
        out.insert(0, f"min-replicas-to-write {k} with max-lag {p.min_replicas_max_lag} s cut the lost "
                      f"acknowledged writes from {num(a)} to {num(b)}: it bounds the split-brain window, it does "
                      "not close it (the writes of the first max-lag seconds are still lost).")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, ax = plt.subplots(figsize=(7.0, 3.2))
        labels = [f"min-replicas {r['min_replicas_to_write']}" for r in f.table]
        ax.bar(labels, [r["acknowledged_writes_lost"] for r in f.table], color=PALETTE[5])
        ax.set_ylabel("acknowledged writes lost")
        ax.set_title(f"Split brain: a {num(p.fault_duration)} s partition of the master with one client")
    return [save(fig, out, "split_brain")]


@scenario("split-brain", "a master partitioned with some clients keeps acknowledging writes that the rejoin "
          "discards; what min-replicas-to-write changes", topic="replication-and-failover",
          question="Redis Sentinel split brain: what happens to writes on the isolated master?",
          source="High Availability Patterns",
          setup="The seed's Sentinel setup (quorum 2, down-after 5000 ms); the master and one client are cut off "
          "from the replicas, the sentinels and the other client at {fault_at} s for {fault_duration} s; "
          "{rate} ops/s; min-replicas-to-write {min_replicas} with max-lag {min_replicas_max_lag} s.",
          watch="How long the isolated master keeps acknowledging writes, and how many acknowledged writes the "
          "full resync after the heal discards.",
          params=Params, quick={"fault_at": 20.0, "fault_duration": 20.0, "duration": 60.0}, runtime="5 s",
          takeaways=takeaways, figures=figures, needs=("split-brain",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for k in p.settings:
        s = simulate("split-brain", {"min_replicas_to_write": k, "min_replicas_max_lag": p.min_replicas_max_lag,
                                     "rate": p.rate, "fault_at": p.fault_at, "fault_duration": p.fault_duration,
                                     "duration": p.duration}, seed).summary

        def rel(key: str, s: dict[str, Any] = s) -> float | None:
            v = s.get(key)
            return None if v is None else round(float(v), 3)

        table.append({"min_replicas_to_write": k, "isolated_writes_acked": s["isolated_writes_acked"],
                      "stopped_s": rel("isolated_stopped_at"), "converted_s": rel("converted_at"),
                      "acknowledged_writes_lost": s["acknowledged_writes_lost"],
                      "acknowledged_writes": s["acknowledged_writes"]})
    return Findings(table, {"lost": {r["min_replicas_to_write"]: r["acknowledged_writes_lost"] for r in table}})
