"""Memcached's worker threads against Redis's one event loop, under rising load; memory per key.

Runs the ``three-tier`` model (:mod:`models.three_tier`) with the simulated Redis (one event loop: one
command at a time, :mod:`simcache.sim.redis`) and the simulated Memcached (``workers`` threads,
:mod:`simcache.sim.memcached`) at the same per-command cost, at each request rate, on the same requests.
Memory per key is each server's own accounting (Redis ``used_memory``, Memcached ``bytes``) over its keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, ms, num, pct, positive, save, scenario, series, simulate


@dataclass(frozen=True)
class Params:
    """Parameters (rates in requests/s; ``service_us``: one command's cost in microseconds)."""

    rates: str = "1000,2000,3000"
    service_us: float = 300.0
    workers: int = 4
    objects: int = 20_000
    duration: float = 6.0

    def __post_init__(self) -> None:
        positive(self, "service_us", "workers", "objects", "duration")
        self.rate_list()

    def rate_list(self) -> list[float]:
        try:
            rates = [float(x) for x in self.rates.split(",")]
        except ValueError:
            raise ValueError(f"rates must be numbers separated by ',', got {self.rates!r}") from None
        check(bool(rates) and all(r > 0 for r in rates), f"rates must be > 0, got {self.rates!r}")
        return rates


def last(result: Any, component: str, metric: str) -> float:
    _, v = series(result, component, metric)
    return v[-1] if v else 0.0


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = f.table
    top = max(p.rate_list())
    r_top = next(r for r in rows if r["server"] == "redis" and r["rate"] == top)
    m_top = next(r for r in rows if r["server"] == "memcached" and r["rate"] == top)
    low = min(p.rate_list())
    r_low = next(r for r in rows if r["server"] == "redis" and r["rate"] == low)
    m_low = next(r for r in rows if r["server"] == "memcached" and r["rate"] == low)
    out = [f"At {num(low)} req/s both answer alike (p99 {ms(r_low['p99_ms'])} Redis, {ms(m_low['p99_ms'])} "
           f"Memcached): Redis's event loop is {pct(r_low['cache_utilization'])} busy.",
           f"At {num(top)} req/s Redis's one thread is {pct(r_top['cache_utilization'])} busy and its p99 is "
           f"{ms(r_top['p99_ms'])}; Memcached spreads the same commands over {p.workers} threads "
           f"({pct(m_top['cache_utilization'])} each) and keeps p99 at {ms(m_top['p99_ms'])}.",
           f"Memory per key: {num(f.numbers['redis_bytes_per_key'])} bytes in Redis against "
           f"{num(f.numbers['memcached_bytes_per_key'])} in Memcached for the same 100-byte values "
           f"(each server's own accounting)."]
    if r_top["cache_utilization"] >= 0.95:
        out.append("Past one core's worth of commands the Redis queue only grows: shard it (Redis Cluster) or move "
                   "reads to replicas; Redis 6's I/O threads only take socket work off the main thread.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, ax = plt.subplots()
        for i, server in enumerate(("redis", "memcached")):
            rows = [r for r in f.table if r["server"] == server]
            ax.plot([r["rate"] for r in rows], [r["p99_ms"] for r in rows], marker="o", color=PALETTE[i], label=server)
        ax.set_yscale("log")
        ax.set_xlabel("requests per second")
        ax.set_ylabel("p99 latency (ms)")
        ax.set_title(f"One event loop vs {p.workers} threads, {p.service_us:g} µs per command")
        ax.legend()
    return [save(fig, out, "memcached_vs_redis")]


@scenario("memcached-vs-redis", "Memcached's threads against Redis's single event loop under rising load, and "
          "memory per key", topic="tiers-and-latency", question="When to use Memcached vs Redis",
          source="Memcached: the seed's comparison table",
          setup="Cache-aside over {objects} keys (Zipf 0.9, no near cache) at {rates} requests/s; each cache "
          "command costs {service_us} µs; Redis runs them on one event loop, Memcached on {workers} threads; "
          "{duration} s per point.",
          watch="p99 as the load approaches one core's worth of commands, each server's utilization, and bytes "
          "per key.",
          params=Params, quick={"duration": 2.0, "rates": "1000,3000"}, runtime="8 s",
          takeaways=takeaways, figures=figures, needs=("three-tier",))
def run(p: Params, seed: int) -> Findings:
    table: list[dict[str, Any]] = []
    numbers: dict[str, Any] = {}
    for server in ("redis", "memcached"):
        for rate in p.rate_list():
            r = simulate("three-tier", {"rate": rate, "duration": p.duration, "cache_profile": server,
                                        "cache_service": f"exp:{p.service_us / 1e6}", "cache_workers": p.workers,
                                        "app_cache": 0, "n_objects": p.objects}, seed)
            s = r.summary
            t = s["tiers"][server]
            workers = 1 if server == "redis" else p.workers
            busy = sum(series(r, server, "busy_rate")[1]) / max(len(series(r, server, "busy_rate")[1]), 1)
            table.append({"server": server, "rate": rate, "p50_ms": round(s["latency_ms"]["p50"], 2),
                          "p99_ms": round(s["latency_ms"]["p99"], 2), "cache_utilization": round(busy / workers, 3),
                          "commands_per_s": round(t.get("commands", 0) / p.duration), "hit_ratio": round(t["hit_ratio"], 4)})
        if server == "redis":
            numbers["redis_bytes_per_key"] = last(r, "redis", "used_memory") / max(last(r, "redis", "keys"), 1)
        else:
            numbers["memcached_bytes_per_key"] = last(r, "memcached", "bytes") / max(last(r, "memcached", "curr_items"), 1)
    return Findings(table, numbers)
