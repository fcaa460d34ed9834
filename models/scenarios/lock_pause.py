"""The seed's ``RedisLock`` with a holder that pauses past its timeout, against fencing tokens and Redlock.

Runs the ``lock`` model (:mod:`models.lock`, :mod:`simcache.sim.locks`) once per lock: contenders
read-modify-write a shared counter under the lock and pause (a GC pause) inside the critical section; a
pause longer than the lock's timeout lets a second holder in while the first still believes it holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, choices, num, positive, save, scenario, simulate

LOCKS = ("seed", "fencing", "redlock")


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds; the seed's lock timeout is whole seconds)."""

    locks: str = "seed,fencing,redlock"
    contenders: int = 3
    timeout: float = 1.0
    mean_pause: float = 0.3
    duration: float = 60.0

    def __post_init__(self) -> None:
        choices(self, "locks", LOCKS)
        positive(self, "contenders", "timeout", "mean_pause", "duration")


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["lock"]: r for r in f.table}
    out = []
    if "seed" in rows:
        s = rows["seed"]
        out.append(f"With pauses of {num(p.mean_pause)} s on average (exponential) and a {num(p.timeout)} s lock "
                   f"timeout, the seed's lock had two holders at once {num(s['double_holds'])} times in "
                   f"{num(s['acquisitions'])} acquisitions ({num(s['overlap_s'])} s of overlap), and "
                   f"{num(s['corrupted_writes'])} writes overwrote another holder's update.")
        out.append(f"Its 1 ms busy-wait cost {num(s['redis_cmds_per_s'])} Redis commands per second for "
                   f"{p.contenders} contenders.")
    if "fencing" in rows:
        fe = rows["fencing"]
        out.append(f"Fencing tokens did not prevent the {num(fe['double_holds'])} double holds, but the store "
                   f"refused {num(fe['rejected_stale_writes'])} writes carrying an older token: "
                   f"{num(fe['corrupted_writes'])} corrupted writes.")
    if "redlock" in rows:
        r = rows["redlock"]
        out.append(f"Redlock over 5 nodes still had {num(r['double_holds'])} double holds and "
                   f"{num(r['corrupted_writes'])} corrupted writes: a quorum does not help a paused holder.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np

    from simcache.plots import PALETTE, style

    names = [r["lock"] for r in f.table]
    x = np.arange(len(names))
    with style():
        fig, ax = plt.subplots()
        ax.bar(x - 0.27, [r["double_holds"] for r in f.table], 0.27, color=PALETTE[1], label="double holds")
        ax.bar(x, [r["corrupted_writes"] for r in f.table], 0.27, color=PALETTE[3], label="corrupted writes")
        ax.bar(x + 0.27, [r["rejected_stale_writes"] for r in f.table], 0.27, color=PALETTE[2],
               label="stale writes refused")
        ax.set_xticks(x, names)
        ax.set_ylabel("count")
        ax.set_title(f"Lock holders pausing {p.mean_pause:g} s on average, timeout {p.timeout:g} s")
        ax.legend()
    return [save(fig, out, "lock_pause")]


@scenario("lock-pause", "the seed's Redis lock under GC pauses: two holders at once, lost updates; fencing "
          "tokens and Redlock", topic="rate-limiting-and-locks",
          question="Distributed locking with Redis (the seed's RedisLock)", source="Redis Patterns",
          setup="{contenders} workers loop: acquire the lock (timeout {timeout} s), read-modify-write a shared "
          "counter while pausing exp({mean_pause}) s, release; {duration} s per lock: {locks}.",
          watch="Double holds (a second holder while the first is paused), corrupted writes (lost updates), the "
          "stale writes fencing refuses, and the Redis load of the seed's 1 ms busy wait.",
          params=Params, quick={"duration": 20.0}, runtime="6 s",
          takeaways=takeaways, figures=figures, needs=("lock",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for lock in choices(p, "locks", LOCKS):
        s = simulate("lock", {"lock": lock, "contenders": p.contenders, "timeout": p.timeout,
                              "pause": f"exp:{p.mean_pause}", "duration": p.duration}, seed).summary
        table.append({"lock": lock, "acquisitions": s["acquisitions"], "double_holds": s["double_holds"],
                      "overlap_s": round(s["overlap_seconds"], 3), "corrupted_writes": s["corrupted_writes"],
                      "rejected_stale_writes": s["rejected_stale_writes"],
                      "redis_cmds_per_s": round(s["redis_commands_per_s"], 1)})
    return Findings(table, {})
