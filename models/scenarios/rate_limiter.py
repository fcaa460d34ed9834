"""The seed's Redis rate limiter against the alternatives, with its starvation flaw.

Runs the ``rate-limit`` model (:mod:`models.rate_limit`, :mod:`simcache.sim.ratelimit`) once per limiter:
the same clients offer ``offered`` requests per window for a limit of ``limit``.  The seed's sorted-set log
adds every request — rejected ones too — so a client that keeps offering more than the limit keeps its own
log full and is starved far below it.  An exact sliding log on the same arrivals says what should have
passed; the most requests let through in any window shows the fixed window's boundary burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, choices, num, pct, positive, save, scenario, simulate

LIMITERS = ("seed", "fixed-window", "fixed-window-leaky", "sliding-counter", "sliding-log", "sliding-log-racy",
            "token-bucket")

#: why a limiter can let more than the limit through in a sliding window
WHY = {"fixed-window": "a burst at the end of one window and another at the start of the next",
       "fixed-window-leaky": "a burst at the end of one window and another at the start of the next",
       "sliding-counter": "the counter weights the previous window as if its requests were spread evenly",
       "token-bucket": "a full bucket of burst tokens plus what refills during the window",
       "sliding-log-racy": "concurrent checks read the same count before either adds itself",
       "sliding-log": "concurrent checks", "seed": "two requests at the same timestamp share one member"}


@dataclass(frozen=True)
class Params:
    """Parameters (window in whole seconds: the seed's EXPIRE takes seconds)."""

    limiters: str = "seed,fixed-window,sliding-counter,sliding-log,token-bucket"
    limit: int = 10
    window: float = 1.0
    offered: float = 20.0
    clients: int = 2
    keys: int = 1
    duration: float = 120.0

    def __post_init__(self) -> None:
        choices(self, "limiters", LIMITERS)
        positive(self, "limit", "window", "offered", "clients", "keys", "duration")


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["limiter"]: r for r in f.table}
    out = []
    if "seed" in rows:
        s = rows["seed"]
        out.append(f"Offered {num(p.offered)} requests per {num(p.window)} s window against a limit of {p.limit}, the "
                   f"seed's limiter let through {pct(s['accepted_fraction'])} of them where an exact limiter passes "
                   f"{pct(s['exact_accepted_fraction'])}: {num(s['false_rejects'])} of its {num(s['rejected'])} "
                   f"rejections came when fewer than {p.limit} had passed in the window, because rejected "
                   f"requests stay in its log.")
    others = [r for n, r in rows.items() if n != "seed"]
    if others:
        fair = min(others, key=lambda r: abs(r["accepted_fraction"] - r["exact_accepted_fraction"]))
        out.append(f"{fair['limiter']} accepted {pct(fair['accepted_fraction'])} (exact: "
                   f"{pct(fair['exact_accepted_fraction'])}) with at most {num(fair['max_in_any_window'])} in any "
                   f"window.")
    over = [r for r in f.table if r["max_in_any_window"] > p.limit]
    for r in over:
        out.append(f"{r['limiter']} let {num(r['max_in_any_window'])} requests through in one sliding window "
                   f"({num(r['max_in_any_window'] / p.limit, 2)}× the limit): {WHY[r['limiter']]}.")
    if not over:
        out.append(f"No limiter let more than {p.limit} through in any window of {num(p.window)} s on this run.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np

    from simcache.plots import PALETTE, style

    names = [r["limiter"] for r in f.table]
    x = np.arange(len(names))
    with style():
        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        ax.bar(x - 0.2, [r["accepted_fraction"] for r in f.table], 0.4, color=PALETTE[0], label="accepted")
        ax.bar(x + 0.2, [r["exact_accepted_fraction"] for r in f.table], 0.4, color=PALETTE[2],
               label="exact sliding log, same arrivals")
        ax.set_xticks(x, names, rotation=20)
        ax.set_ylabel("fraction of offered requests")
        ax.set_title(f"Limit {p.limit} per {p.window:g} s, offered {p.offered:g}")
        ax.legend()
    return [save(fig, out, "rate_limiters")]


@scenario("rate-limiter", "the seed's sorted-set rate limiter starves a busy client; fixed window, sliding "
          "counter and log, token bucket beside it", topic="rate-limiting-and-locks",
          question="Implement a rate limiter using Redis", source="Interview question 4",
          setup="{clients} app servers offer {offered} requests per {window} s window (Poisson) for {keys} key(s), "
          "limit {limit}; {duration} s per limiter: {limiters}.",
          watch="The accepted fraction against what an exact limiter would accept on the same arrivals (the "
          "seed's starvation), false rejections, and the most requests let through in any window (bursts).",
          params=Params, quick={"duration": 30.0}, runtime="2 s",
          takeaways=takeaways, figures=figures, needs=("rate-limit",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    for lim in choices(p, "limiters", LIMITERS):
        s = simulate("rate-limit", {"limiter": lim, "limit": p.limit, "window": p.window, "offered": p.offered,
                                    "clients": p.clients, "keys": p.keys, "duration": p.duration}, seed).summary
        table.append({"limiter": lim, "offered": s["offered"], "accepted": s["accepted"], "rejected": s["rejected"],
                      "accepted_fraction": round(s["accepted_fraction"], 4),
                      "exact_accepted_fraction": round(s["exact_accepted_fraction"], 4),
                      "false_rejects": s["false_rejects"], "max_in_any_window": s["max_in_any_window"],
                      "redis_cmds_per_s": round(s["redis_commands_per_s"], 1)})
    return Findings(table, {})
