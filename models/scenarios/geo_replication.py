"""A distributed cache with geographic replication: a replica across a WAN, its lag, stale reads, a region cut off.

Runs the ``replication`` model (:mod:`models.replication`, :mod:`simcache.sim.redis.replication`): a primary
``m`` and a local replica ``r1`` with the app in the home region, a replica ``r2`` in a remote region
(``latency`` faults add ``wan_ms`` one way on every link to it), readers spread round-robin over the
replicas.  Three runs on the same requests: both replicas local, the remote replica over the WAN, and the
remote region cut off (a partition) for ``cut_s`` seconds.  A stale read is one invoked after the primary had
applied a newer write: what a user who has just written sees as a read-your-writes violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, ms, num, pct, positive, save, scenario, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds; ``wan_ms`` one way)."""

    wan_ms: float = 40.0
    write_rate: float = 200.0
    read_rate: float = 800.0
    keys: int = 2_000
    cut_at: float = 15.0
    cut_s: float = 5.0
    duration: float = 30.0
    warmup: float = 8.0

    def __post_init__(self) -> None:
        positive(self, "wan_ms", "write_rate", "read_rate", "keys", "cut_s", "duration")
        check(0 <= self.warmup < self.cut_at and self.cut_at + self.cut_s < self.duration,
              f"need warmup < cut_at and cut_at + cut_s < duration, got cut_at={self.cut_at!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    local, wan, cut = f.table
    return [f"With both replicas local {pct(local['stale_fraction'], 2)} of replica reads were stale; with one "
            f"replica {num(p.wan_ms)} ms away {pct(wan['stale_fraction'], 2)} were (p99 age "
            f"{ms(wan['stale_p99_ms'])}): the remote copy is always at least one WAN trip behind.",
            f"Cutting the remote region off for {num(p.cut_s)} s: {num(cut['read_timeouts'])} reads sent to it across the cut timed out, the "
            f"remote replica fell {num(cut['r2_lag_max_s'])} s behind, stale reads rose to "
            f"{pct(cut['stale_fraction'], 2)} with the oldest {ms(cut['stale_max_ms'])}, and it caught up "
            + resync(cut, local) + ".",
            f"Writes kept going on the primary throughout: {num(cut['acknowledged_writes_lost'])} acknowledged "
            f"writes lost — asynchronous replication delays the remote region's view, it does not lose writes "
            f"unless the primary fails before shipping them."]


def resync(cut: dict[str, Any], base: dict[str, Any]) -> str:
    """How the cut-off replica caught up, from the sync counts against the run without a cut."""
    if cut["full_syncs"] > base["full_syncs"]:
        return f"by {num(cut['full_syncs'] - base['full_syncs'])} full resync(s)"
    if cut["partial_syncs"] > base["partial_syncs"]:
        return f"by {num(cut['partial_syncs'] - base['partial_syncs'])} partial resync(s) from the backlog"
    return "as soon as the stream resumed: the link never timed out (repl-timeout 60 s), so no resync was needed"


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    names = [r["setup"] for r in f.table]
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        a.bar(names, [r["stale_fraction"] * 100 for r in f.table], color=PALETTE[3])
        a.set_ylabel("stale replica reads (%)")
        a.set_title("Replica reads behind the primary")
        b.bar(names, [r["r2_lag_max_s"] for r in f.table], color=PALETTE[0])
        b.set_ylabel("remote replica's worst lag (s)")
        b.set_title(f"WAN {p.wan_ms:g} ms; cut {p.cut_s:g} s")
        for ax in (a, b):
            ax.tick_params(axis="x", rotation=15)
    return [save(fig, out, "geo_replication")]


@scenario("geo-replication", "a replica in a remote region: WAN lag, stale (read-your-writes) reads, and the "
          "region cut off", topic="replication-and-failover",
          question="Design a distributed cache with geographic replication", source="Interview question 3",
          setup="A Redis primary and a local replica in the home region, a second replica {wan_ms} ms away; {write_rate} "
          "writes/s to the primary and {read_rate} reads/s round-robin over the replicas, each read served next to "
          "its replica, {keys} keys; the remote "
          "region is cut off at {cut_at} s for {cut_s} s; {duration} s per run (the first {warmup} s, the initial "
          "syncs, not judged).",
          watch="The stale share and age of replica reads as the replica moves away, the remote replica's lag "
          "during the cut, the reads that time out, and how it resynchronises.",
          params=Params, quick={"duration": 20.0, "cut_at": 12.0, "cut_s": 4.0, "read_rate": 400.0,
                                "write_rate": 100.0}, runtime="6 s",
          takeaways=takeaways, figures=figures, needs=("replication",))
def run(p: Params, seed: int) -> Findings:
    wan = p.wan_ms / 1000
    end = p.duration
    # the WAN is between the primary's region and the remote replica; the readers of the remote region sit next
    # to their replica, so the app's link to it keeps its local latency
    links = [f"latency:m-r2={wan:g}@0+{end:g}", f"latency:r1-r2={wan:g}@0+{end:g}"]
    runs: tuple[tuple[str, list[str]], ...] = (("both local", []), (f"remote {p.wan_ms:g} ms", links),
            ("remote cut off", [*links, f"partition:m,r1,app|r2@{p.cut_at:g}+{p.cut_s:g}"]))
    table: list[dict[str, Any]] = []
    for label, faults in runs:
        s = simulate("replication", {"write_rate": p.write_rate, "read_rate": p.read_rate, "keys": p.keys,
                                     "duration": p.duration, "warmup": p.warmup, "replicas": 2}, seed,
                     faults=faults).summary
        rr = s["replica_reads"]
        table.append({"setup": label, "stale_fraction": round(rr["stale_fraction"], 5),
                      "stale_p99_ms": round(rr["stale_age_ms"].get("p99", 0.0), 1),
                      "stale_max_ms": round(rr["stale_age_ms"].get("max", 0.0), 1),
                      "r2_lag_max_s": round(s["replication_lag"]["r2"]["seconds_max"], 3),
                      "read_timeouts": s["reads"].get("timeout", 0), "full_syncs": s["syncs"]["full"],
                      "partial_syncs": s["syncs"]["partial"],
                      "acknowledged_writes_lost": s["acknowledged_writes_lost"]})
    return Findings(table, {})
