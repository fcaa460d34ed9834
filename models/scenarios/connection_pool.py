"""The seed's pool of 50 Redis connections under load, when Redis stalls for a moment.

Runs the ``three-tier`` model (:mod:`models.three_tier`; pools of :mod:`simcache.sim.pool`, redis-py's
``ConnectionPool`` and ``BlockingConnectionPool``) three times on the same requests with a Redis pause (a
fork for a snapshot, a slow command) of ``pause`` seconds: an unbounded pool, the seed's
``max_connections=50`` (redis-py raises ``ConnectionError("Too many connections")`` at once when all 50 are
busy), and a blocking pool of 50 that waits up to ``wait`` seconds for a free connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, ms, num, positive, save, scenario, series, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    pool: int = 50
    wait: float = 0.2
    rate: float = 2000.0
    pause: float = 0.5
    pause_at: float = 10.0
    duration: float = 20.0

    def __post_init__(self) -> None:
        positive(self, "pool", "wait", "rate", "pause", "duration")
        check(0 < self.pause_at < self.duration, f"pause_at must be in (0, duration), got {self.pause_at!r}")


def takeaways(p: Params, f: Findings) -> list[str]:
    un, fixed, blocking = f.table
    return [f"Without a limit the app opened up to {num(un['peak_connections'])} connections to Redis during the "
            f"{num(p.pause)} s stall and lost no request, but p99 rose to {ms(un['p99_ms'])}.",
            f"The seed's pool of {p.pool} failed {num(fixed['errors'])} requests at once with ConnectionError (too "
            f"many connections) and kept p99 at {ms(fixed['p99_ms'])}; a blocking pool waiting up to "
            f"{ms(p.wait * 1000)} failed {num(blocking['errors'])} and had p99 {ms(blocking['p99_ms'])}.",
            f"A pool size is a concurrency limit: at {num(p.rate)} req/s a stall of {num(p.pause)} s needs about "
            f"{num(p.rate * p.pause)} connections to absorb, against {p.pool} in the pool."]


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        for i, r in enumerate(f.table):
            t, v = f.data[r["pool"]]["connections"]
            a.plot(t, v, color=PALETTE[i], label=r["pool"])
            t, v = f.data[r["pool"]]["p99"]
            b.plot(t, v, color=PALETTE[i], label=r["pool"])
        a.set_ylabel("Redis connected clients")
        b.set_ylabel("p99 per window (ms)")
        b.set_yscale("log")
        for ax in (a, b):
            ax.axvline(p.pause_at, color="#555", linestyle="--", linewidth=1)
            ax.set_xlabel("simulated time (s)")
        a.legend()
        fig.suptitle(f"Redis stalls {p.pause:g} s at {p.pause_at:g} s under {p.rate:g} req/s")
    return [save(fig, out, "connection_pool")]


@scenario("connection-pool", "the seed's pool of 50 connections when Redis stalls: unbounded, fail-fast and "
          "blocking pools", topic="tiers-and-latency",
          question="Connection pooling (the seed's pool of max_connections=50)", source="Performance Optimization",
          setup="{rate} requests/s through an app with cache-aside over Redis; Redis pauses {pause} s at {pause_at} "
          "s; pools: unbounded, {pool} connections failing fast, {pool} connections blocking up to {wait} s; "
          "{duration} s each.",
          watch="Connections opened during the stall, requests failed by the pool, and p99.",
          params=Params, quick={"rate": 1000.0, "duration": 8.0, "pause_at": 4.0}, runtime="11 s",
          takeaways=takeaways, figures=figures, needs=("three-tier",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    fault = [f"pause:redis@{p.pause_at:g}+{p.pause:g}"]
    for label, extra in (("unbounded", {"cache_pool": 0}), (f"{p.pool}, fail fast", {"cache_pool": p.pool}),
                         (f"{p.pool}, blocking", {"cache_pool": p.pool, "pool_wait": p.wait})):
        r = simulate("three-tier", {"rate": p.rate, "duration": p.duration, **extra}, seed, faults=fault)
        s = r.summary
        conns = series(r, "redis", "connected_clients")
        data[label] = {"connections": conns, "p99": series(r, "latency:all", "p99_ms")}
        table.append({"pool": label, "ok": s["outcomes"]["ok"], "errors": s["outcomes"]["error"],
                      "peak_connections": int(max(conns[1], default=0)), "p50_ms": round(s["latency_ms"]["p50"], 2),
                      "p99_ms": round(s["latency_ms"]["p99"], 2), "max_ms": round(s["latency_ms"]["max"], 1)})
    return Findings(table, {}, data=data)
