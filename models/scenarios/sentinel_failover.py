"""Sentinel failover with the seed's settings: how long clients are without a master, crash vs down vs partition.

Runs the ``sentinel-failover`` model (:mod:`models.sentinel_failover`, :mod:`simcache.sim.redis.sentinel`):
a master, two replicas, three sentinels (quorum 2, ``down-after-milliseconds`` 5000, ``failover-timeout``
60000), clients through Sentinel-managed connections; one run per fault kind on the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, choices, num, pct, positive, save, scenario, simulate

FAULTS = ("crash", "down", "partition")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    faults: str = "crash,down,partition"
    down_after_ms: int = 5000
    rate: float = 100.0
    fault_at: float = 15.0
    fault_duration: float = 20.0
    duration: float = 50.0

    def __post_init__(self) -> None:
        choices(self, "faults", FAULTS)
        positive(self, "down_after_ms", "rate", "fault_at", "fault_duration", "duration")
        check(self.fault_at + 10 < self.duration, f"fault_at must leave 10 s before the end, got {self.fault_at!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    out = []
    for r in f.table:
        promoted = (f"{r['new_master']} promoted at {num(r['promoted_s'], 3)} s" if r["promoted_s"] is not None
                    else "no replica promoted within the run")
        back = (f"clients writing again after {num(r['recovered_s'], 3)} s" if r["recovered_s"] is not None
                else "clients not writing again within the run")
        out.append(f"{r['fault']}: subjectively down after {num(r['sdown_s'], 3)} s, objectively (quorum) after "
                   f"{num(r['odown_s'], 3)} s, {promoted}, {back}; {pct(1 - r['availability'], 2)} of the run's "
                   f"operations failed and {num(r['acknowledged_writes_lost'])} acknowledged writes were lost.")
    done = [r for r in f.table if r["recovered_s"] is not None]
    if not done:
        return ["No fault kind saw the clients recover within the run; lengthen duration.", *out]
    fastest = min(done, key=lambda r: r["recovered_s"])
    out.insert(0, f"With down-after-milliseconds {num(p.down_after_ms)}, the wait before anyone acts is most of the "
                  f"outage: clients were back {num(fastest['recovered_s'], 3)} s after the fault at best, "
                  f"{num(fastest['recovered_s'] - p.down_after_ms / 1000, 3)} s of it after the down-after period.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    steps = (("fault", "fault"), ("sdown_s", "sdown"), ("odown_s", "odown"), ("promoted_s", "promoted"),
             ("recovered_s", "clients back"), ("switch_s", "+switch-master"))
    with style():
        fig, ax = plt.subplots(figsize=(7.5, 3.4))
        for i, r in enumerate(f.table):
            xs = [0.0 if k == "fault" else r[k] if r[k] is not None else float("nan") for k, _ in steps]
            ax.plot(xs, [i] * len(xs), color=PALETTE[i], marker="o")
            for j, (x, (_, label)) in enumerate(zip(xs, steps, strict=True)):
                # alternate above and below the line: the steps come close together
                ax.annotate(label, (x, i), textcoords="offset points", xytext=(0, 6 if j % 2 else -12), fontsize=7,
                            ha="center")
        ax.set_yticks(range(len(f.table)), [r["fault"] for r in f.table])
        ax.set_ylim(-0.5, len(f.table) - 0.2)
        ax.axvspan(0, p.down_after_ms / 1000, color="#999", alpha=0.15, label="down-after period")
        ax.set_xlim(left=-0.2)
        ax.legend(loc="lower right")
        ax.set_xlabel("seconds after the fault")
        ax.set_title("Sentinel failover timeline (quorum 2)")
    return [save(fig, out, "sentinel_failover")]


@scenario("sentinel-failover", "the seed's Sentinel setup failing a master over: the timeline and the seconds "
          "without a master, for a crash, a host down and a partition", topic="replication-and-failover",
          question="Redis Sentinel failover (the seed's sentinel configuration)", source="High Availability Patterns",
          setup="A master, two replicas, three sentinels (quorum 2, down-after {down_after_ms} ms, failover-timeout "
          "60 s); clients at {rate} ops/s; the master fails at {fault_at} s for {fault_duration} s ({faults}); "
          "{duration} s per run.",
          watch="Subjective and objective down, the election, the promotion, the clients' recovery, and the "
          "acknowledged writes the switch loses.",
          params=Params, quick={"duration": 40.0, "fault_at": 15.0, "fault_duration": 15.0}, runtime="3 s",
          takeaways=takeaways, figures=figures, needs=("sentinel-failover",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for fault in choices(p, "faults", FAULTS):
        s = simulate("sentinel-failover", {"fault": fault, "down_after_ms": p.down_after_ms, "rate": p.rate,
                                           "fault_at": p.fault_at, "fault_duration": p.fault_duration,
                                           "duration": p.duration}, seed).summary
        ok, err = s["outcomes"]["ok"], s["outcomes"]["error"] + s["outcomes"]["timeout"]

        def at(k: str, s: dict[str, Any] = s) -> float | None:
            v = s.get(k)
            return round(float(v), 3) if v is not None else None

        table.append({"fault": fault, "sdown_s": at("sdown_at"), "odown_s": at("odown_at"),
                      "promoted_s": at("promoted_at"), "switch_s": at("switch_master_at"),
                      "recovered_s": at("clients_recovered_at"), "availability": round(ok / max(ok + err, 1), 4),
                      "acknowledged_writes_lost": s["acknowledged_writes_lost"], "new_master": s.get("new_master")})
    return Findings(table, {})
