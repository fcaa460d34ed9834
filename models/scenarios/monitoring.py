"""The seed's monitoring list as a dashboard: hit rate, eviction rate, memory, connections, command rate, keys,
expired keys per minute — over a run in which the working set outgrows Redis and the traffic spikes.

Runs the ``three-tier`` model (:mod:`models.three_tier`) with bursty (MMPP) arrivals and a Redis whose
``maxmemory`` holds ``cache_capacity`` entries, and draws its scraped INFO counters per window
(:mod:`simcache.sim.metrics`): each panel is one line of the seed's ``cache_metrics`` dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, num, pct, positive, save, scenario, series, simulate

PANELS = (("hit_rate", "hit rate", "hits / (hits + misses)"), ("eviction_rate", "evictions per second", ""),
          ("memory_usage", "memory usage", "used_memory / maxmemory"),
          ("connection_count", "connected clients", ""), ("command_rate", "commands per second", ""),
          ("key_count", "keys", ""), ("expired_keys", "expired keys per minute", ""))


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds)."""

    rate: float = 1500.0
    objects: int = 100_000
    cache_capacity: int = 10_000
    ttl: float = 20.0
    duration: float = 40.0

    def __post_init__(self) -> None:
        positive(self, "rate", "objects", "cache_capacity", "ttl", "duration")


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    return [f"Hit rate averaged {pct(n['hit_rate_mean'])} (lowest window {pct(n['hit_rate_min'])}); memory reached "
            f"{pct(n['memory_usage_max'])} of maxmemory and Redis then evicted {num(n['eviction_rate_mean'])} keys/s "
            f"on average while holding about {num(n['key_count_last'])} keys.",
            f"Bursts moved the command rate between {num(n['command_rate_min'])} and {num(n['command_rate_max'])} per "
            f"second and the connections between {num(n['connection_count_min'])} and "
            f"{num(n['connection_count_max'])}; with a {num(p.ttl)} s TTL "
            + (f"{num(n['expired_keys_mean'])} keys expired per minute." if n["expired_keys_mean"] > 0 else
               "no key expired: every one was evicted before its TTL ran out."),
            "An eviction rate above zero with memory at its limit says the working set does not fit: the hit rate "
            f"would rise with memory (this run: {num(p.cache_capacity)} entries for {num(p.objects)} keys)."
            if n["eviction_rate_mean"] > 0 else
            f"No evictions: the {num(p.cache_capacity)}-entry Redis held the working set, and misses came from "
            f"expiry and first reads."]


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, axes = plt.subplots(2, 4, figsize=(13, 5.5), sharex=True)
        for i, (key, title, sub) in enumerate(PANELS):
            ax = axes.flat[i]
            t, v = f.data[key]
            ax.plot(t, v, color=PALETTE[i % 8])
            ax.set_title(title + (f"\n{sub}" if sub else ""), fontsize=9)
        axes.flat[7].axis("off")
        for ax in axes[1]:
            ax.set_xlabel("simulated time (s)")
        fig.suptitle("Redis dashboard (the seed's cache_metrics)")
        fig.tight_layout()
    return [save(fig, out, "monitoring_dashboard")]


@scenario("monitoring", "the seed's monitoring list as a dashboard over a run whose working set outgrows Redis "
          "under bursty traffic", topic="tiers-and-latency", question="Key metrics to monitor (the seed's cache_metrics)",
          source="Monitoring and Metrics",
          setup="{rate} requests/s on average in bursts (MMPP), {objects} keys (Zipf 0.9), cache-aside with TTL "
          "{ttl} s over a Redis holding {cache_capacity} entries; {duration} s, scraped every second.",
          watch="Memory climbing to maxmemory and evictions starting there; the hit rate following; the command "
          "rate and connections tracking the bursts; expired keys per minute set by the TTL.",
          params=Params, quick={"rate": 800.0, "duration": 15.0, "objects": 30_000, "cache_capacity": 3_000},
          runtime="7 s", takeaways=takeaways, figures=figures, needs=("three-tier",))
def run(p: Params, seed: int) -> Findings:
    r = simulate("three-tier", {"rate": p.rate, "arrivals": "mmpp", "n_objects": p.objects,
                                "cache_capacity": p.cache_capacity, "strategy.ttl": p.ttl, "duration": p.duration},
                 seed)
    maxmemory = float(model_maxmemory(p))
    t, hits = series(r, "redis", "hits_rate")
    _, misses = series(r, "redis", "misses_rate")
    data: dict[str, Any] = {
        "hit_rate": (t, [h / (h + m) if h + m else 0.0 for h, m in zip(hits, misses, strict=True)]),
        "eviction_rate": series(r, "redis", "evictions_rate"),
        "memory_usage": (t, [v / maxmemory for v in series(r, "redis", "used_memory")[1]]),
        "connection_count": series(r, "redis", "connected_clients"),
        "command_rate": series(r, "redis", "commands_rate"),
        "key_count": series(r, "redis", "keys"),
        "expired_keys": (t, [v * 60 for v in series(r, "redis", "expired_rate")[1]]),
    }
    numbers: dict[str, Any] = {}
    table = []
    for key, title, _ in PANELS:
        v = data[key][1]
        numbers.update({f"{key}_mean": sum(v) / len(v), f"{key}_min": min(v), f"{key}_max": max(v),
                        f"{key}_last": v[-1]})
        table.append({"metric": key, "what": title, "mean": round(sum(v) / len(v), 4), "min": round(min(v), 4),
                      "max": round(max(v), 4), "last": round(v[-1], 4)})
    return Findings(table, numbers, data=data)


def model_maxmemory(p: Params) -> int:
    """The three-tier model's ``maxmemory`` for ``cache_capacity`` entries (as :func:`models.three_tier.build`)."""
    from simcache.sim.redis.server import KEY_OVERHEAD

    return p.cache_capacity * (KEY_OVERHEAD + len(str(p.objects)) + 100)
