"""The seed's bulk load: 10,000 SETs in a pipeline executed every 1,000, against one round trip per SET.

Composed from the simulated Redis (:class:`~simcache.sim.redis.RedisServer`) and its redis-py-like client
(:class:`~simcache.sim.redis.Redis`, ``pipeline()`` as redis-py's, a MULTI/EXEC transaction by default) on
one app host (:class:`~simcache.sim.locks.Host`).  The seed's loop is run as written::

    pipeline = redis_client.pipeline()
    for i in range(10000):
        pipeline.set(f'key:{i}', f'value:{i}')
        if i % 1000 == 0:
            pipeline.execute()
            pipeline = redis_client.pipeline()
    pipeline.execute()

so its first batch holds one command (``0 % 1000 == 0``) and its last 999.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy

from simcache.scenarios import Findings, check, ms, num, positive, save, scenario
from simcache.sim.locks import Host
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.world import World


@dataclass(frozen=True)
class Params:
    """Parameters (times in milliseconds)."""

    keys: int = 10_000
    every: int = 1_000
    rtt_ms: float = 1.0
    service_us: float = 20.0
    transaction: bool = True

    def __post_init__(self) -> None:
        positive(self, "keys", "every", "service_us")
        check(self.rtt_ms >= 0, f"rtt_ms must be >= 0, got {self.rtt_ms!r}")


def load(p: Params, seed: int, mode: str) -> dict[str, Any]:
    """Run one bulk load: ``mode`` is ``"one by one"``, ``"seed's pipeline"`` or ``"even batches"``."""
    world = World(seed)
    server = RedisServer(world, "redis", service=f"exp:{p.service_us / 1e6}")
    host = Host(world, "app")
    world.network.add_link("app", "redis", f"const:{p.rtt_ms / 2000}")
    r = Redis(world, host, server)
    batches: list[int] = []
    done: dict[str, float] = {}

    def main() -> Generator[simpy.Event, Any, None]:
        t0 = world.env.now
        if mode == "one by one":
            for i in range(p.keys):
                yield from r.set(f"key:{i}", f"value:{i}")
                batches.append(1)
        elif mode == "seed's pipeline":
            pipeline = r.pipeline(transaction=p.transaction)
            for i in range(p.keys):
                pipeline.set(f"key:{i}", f"value:{i}")
                if i % p.every == 0:
                    batches.append(len(pipeline))
                    yield from pipeline.execute()
                    pipeline = r.pipeline(transaction=p.transaction)
            batches.append(len(pipeline))
            yield from pipeline.execute()
        else:
            pipeline = r.pipeline(transaction=p.transaction)
            for i in range(p.keys):
                pipeline.set(f"key:{i}", f"value:{i}")
                if (i + 1) % p.every == 0 or i + 1 == p.keys:
                    batches.append(len(pipeline))
                    yield from pipeline.execute()
                    pipeline = r.pipeline(transaction=p.transaction)
        done["elapsed"] = world.env.now - t0

    world.env.run(until=host.spawn(main()))  # until the load is done (the server's cron runs forever)
    return {"mode": mode, "round_trips": len(batches), "first_batch": batches[0], "last_batch": batches[-1],
            "largest_batch": max(batches), "elapsed_ms": round(done["elapsed"] * 1000, 3),
            "sets_per_s": round(p.keys / done["elapsed"]), "keys_stored": len(server.data),
            "server_commands": int(server.commands_done)}


def takeaways(p: Params, f: Findings) -> list[str]:
    one, seed_, even = f.table
    return [f"One SET per round trip took {ms(one['elapsed_ms'])} for {num(p.keys)} keys ({num(one['sets_per_s'])} "
            f"SETs/s) at a {num(p.rtt_ms)} ms round trip; the seed's pipeline took {ms(seed_['elapsed_ms'])} "
            f"({num(one['elapsed_ms'] / seed_['elapsed_ms'], 3)}× faster) in {num(seed_['round_trips'])} round "
            f"trips.",
            f"The seed's `if i % {p.every} == 0` executes at i = 0, so its first batch holds "
            f"{num(seed_['first_batch'])} command and its last {num(seed_['last_batch'])}: "
            f"{num(seed_['round_trips'])} round trips where even batches of {num(p.every)} need "
            f"{num(even['round_trips'])} ({ms(even['elapsed_ms'])}); harmless here, but the batch boundaries are "
            f"not where they look."]


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        ax.barh([r["mode"] for r in f.table], [r["elapsed_ms"] for r in f.table], color=PALETTE[:3])
        ax.set_xscale("log")
        ax.set_xlabel("time to load (ms, log scale)")
        ax.set_title(f"{p.keys:,} SETs at a {p.rtt_ms:g} ms round trip")
        ax.invert_yaxis()
    return [save(fig, out, "pipelining")]


@scenario("pipelining", "the seed's 10,000-SET pipeline executed every 1,000 against one round trip per SET",
          topic="tiers-and-latency", question="Pipeline operations for bulk operations (the seed's snippet)",
          source="Performance Optimization",
          setup="{keys} SETs from one app to Redis at a {rtt_ms} ms round trip and {service_us} µs per command: one "
          "by one, the seed's loop (execute when i % {every} == 0, transaction={transaction}), and even batches.",
          watch="Round trips and total time: pipelining removes the round trip per command; and the seed's batch "
          "boundaries (a first batch of one command).",
          params=Params, quick={"keys": 2_000, "every": 200}, runtime="1 s",
          takeaways=takeaways, figures=figures)
def run(p: Params, seed: int) -> Findings:
    return Findings([load(p, seed, m) for m in ("one by one", "seed's pipeline", "even batches")], {})
