"""A social feed's timelines on Redis: fan-out on write against fan-out on read, and a celebrity in between.

Composed from the simulated Redis (:class:`~simcache.sim.redis.RedisServer`, one event loop) and its
redis-py-like client with non-transactional pipelines, on one app host (:class:`~simcache.sim.locks.Host`).
``users`` users each follow ``follows`` others at random; a celebrity is followed by ``celebrity_followers``
of them.  Posts arrive at ``post_rate`` per second from random users and at ``celebrity_post_rate`` from the
celebrity; timeline reads at ``read_rate`` from random users.

* **fan-out on write** (push): a post is ``LPUSH`` + ``LTRIM`` onto every follower's ``timeline:{id}`` in one
  pipeline; a read is one ``LRANGE``.
* **fan-out on read** (pull): a post is one ``LPUSH`` onto ``posts:{author}``; a read is one ``LRANGE`` per
  followee, pipelined, merged at the app.
* **hybrid**: push for everyone but the celebrity, whose posts are pulled at read time by its followers.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from simcache.scenarios import Findings, check, choices, ms, num, pct, positive, save, scenario
from simcache.sim.locks import Host
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.world import World

MODES = ("push", "pull", "hybrid")


@dataclass(frozen=True)
class Params:
    """Parameters (rates per second; ``service_us``: one Redis command's cost in microseconds)."""

    modes: str = "push,pull,hybrid"
    users: int = 2_000
    follows: int = 50
    celebrity_followers: int = 1_500
    post_rate: float = 20.0
    celebrity_post_rate: float = 1.0
    read_rate: float = 500.0
    timeline_length: int = 100
    service_us: float = 20.0
    duration: float = 20.0

    def __post_init__(self) -> None:
        choices(self, "modes", MODES)
        positive(self, "users", "follows", "post_rate", "read_rate", "timeline_length", "service_us", "duration")
        check(self.follows < self.users, f"follows must be < users ({self.users}), got {self.follows!r}")
        check(0 <= self.celebrity_followers < self.users,
              f"celebrity_followers must be in [0, users), got {self.celebrity_followers!r}")
        check(self.celebrity_post_rate >= 0, f"celebrity_post_rate must be >= 0, got {self.celebrity_post_rate!r}")


class Graph:
    """Who follows whom: user 0 is the celebrity; users 1.. follow ``follows`` random others."""

    def __init__(self, p: Params, rng: np.random.Generator) -> None:
        n = p.users
        self.followees: list[list[int]] = [[] for _ in range(n)]
        self.followers: list[list[int]] = [[] for _ in range(n)]
        fans = set(int(x) for x in rng.choice(np.arange(1, n), size=p.celebrity_followers, replace=False))
        for u in range(1, n):
            others = rng.choice(np.arange(1, n - 1), size=p.follows - (1 if u in fans else 0), replace=False)
            chosen = [int(x) + (1 if x >= u else 0) for x in others]  # anyone but u (and the celebrity, added below)
            if u in fans:
                chosen.append(0)
            self.followees[u] = chosen
            for v in chosen:
                self.followers[v].append(u)


def simulate(p: Params, seed: int, mode: str) -> dict[str, Any]:
    world = World(seed)
    server = RedisServer(world, "redis", service=f"exp:{p.service_us / 1e6}")
    host = Host(world, "app")
    world.network.add_link("app", "redis", "const:0.00025")
    r = Redis(world, host, server)
    graph = Graph(p, world.rng("graph"))
    env = world.env
    post_lat: list[float] = []
    celeb_lat: list[float] = []
    read_lat: list[float] = []
    sizes: list[int] = []
    counter = iter(range(10**9))
    pushed = (lambda author: author != 0) if mode == "hybrid" else (lambda author: mode == "push")
    last = p.timeline_length - 1

    def post(author: int) -> Generator[simpy.Event, Any, None]:
        t0 = env.now
        pid = next(counter)
        pipe = r.pipeline(transaction=False)
        if pushed(author):
            for f in graph.followers[author]:
                pipe.lpush(f"timeline:{f}", pid)
                pipe.ltrim(f"timeline:{f}", 0, last)
        else:
            pipe.lpush(f"posts:{author}", pid)
            pipe.ltrim(f"posts:{author}", 0, last)
        yield from pipe.execute()
        (celeb_lat if author == 0 else post_lat).append(env.now - t0)

    def read(user: int) -> Generator[simpy.Event, Any, None]:
        t0 = env.now
        pulled = [v for v in graph.followees[user] if not pushed(v)]
        pipe = r.pipeline(transaction=False)
        if mode != "pull":
            pipe.lrange(f"timeline:{user}", 0, last)
        for v in pulled:
            pipe.lrange(f"posts:{v}", 0, last)
        lists = yield from pipe.execute()
        merged = sorted((int(x) for lst in lists for x in lst), reverse=True)[: p.timeline_length]
        sizes.append(len(merged))
        read_lat.append(env.now - t0)

    def arrivals(rate: float, name: str, make: Any) -> Generator[simpy.Event, Any, None]:
        rng = world.rng(name)
        while True:
            yield env.timeout(float(rng.exponential(1.0 / rate)))
            if env.now >= p.duration:
                return
            host.spawn(make(rng))

    env.process(arrivals(p.post_rate, "posts", lambda rng: post(int(rng.integers(1, p.users)))))
    if p.celebrity_post_rate > 0:
        env.process(arrivals(p.celebrity_post_rate, "celebrity", lambda rng: post(0)))
    env.process(arrivals(p.read_rate, "reads", lambda rng: read(int(rng.integers(1, p.users)))))
    env.run(until=p.duration + 5.0)  # the posts and reads issued before the end finish

    def q(x: list[float], quant: float) -> float | None:
        return float(np.quantile(x, quant)) * 1000 if x else None

    return {"mode": mode, "commands_per_s": round(server.commands_done / p.duration),
            "redis_utilization": round(server.commands_done * p.service_us / 1e6 / p.duration, 3),
            "post_p50_ms": q(post_lat, 0.5), "celebrity_post_ms": q(celeb_lat, 0.5),
            "read_p50_ms": q(read_lat, 0.5), "read_p99_ms": q(read_lat, 0.99),
            "memory_mb": round(server.used_memory / 2**20, 2), "posts": len(post_lat) + len(celeb_lat),
            "reads": len(read_lat), "mean_timeline": round(float(np.mean(sizes)), 1) if sizes else 0.0}


def takeaways(p: Params, f: Findings) -> list[str]:
    rows = {r["mode"]: r for r in f.table}
    out = []
    if "push" in rows and "pull" in rows:
        pu, pl = rows["push"], rows["pull"]
        out.append(f"Fan-out on write cost {num(pu['commands_per_s'])} Redis commands/s and {num(pu['memory_mb'])} MB "
                   f"(a copy of each post per follower) for reads of {ms(pu['read_p50_ms'])} (median); fan-out on "
                   f"read cost {num(pl['commands_per_s'])} commands/s and {num(pl['memory_mb'])} MB, with reads of "
                   f"{ms(pl['read_p50_ms'])} ({p.follows} lists merged per read).")
        out.append(f"A celebrity post to {num(p.celebrity_followers)} followers took {ms(pu['celebrity_post_ms'])} to "
                   f"fan out, holding Redis's one event loop: read p99 was {ms(pu['read_p99_ms'])} with push against "
                   f"{ms(pl['read_p99_ms'])} with pull.")
    if "hybrid" in rows:
        h = rows["hybrid"]
        out.append(f"Hybrid (push, but pull the celebrity): {num(h['commands_per_s'])} commands/s, read p50 "
                   f"{ms(h['read_p50_ms'])} and p99 {ms(h['read_p99_ms'])}, Redis {pct(h['redis_utilization'])} busy.")
    lengths = {r["mean_timeline"] for r in f.table}
    if len(lengths) == 1:
        out.append(f"Every mode served the same timelines ({num(lengths.pop())} posts per read on average): only where "
                   f"the work happens changed.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    names = [r["mode"] for r in f.table]
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
        for ax, key, title, colour in ((axes[0], "commands_per_s", "Redis commands/s", PALETTE[0]),
                                       (axes[1], "read_p99_ms", "read p99 (ms)", PALETTE[3]),
                                       (axes[2], "memory_mb", "timeline memory (MB)", PALETTE[2])):
            ax.bar(names, [r[key] or 0 for r in f.table], color=colour)
            ax.set_title(title)
        fig.suptitle(f"{p.users:,} users following {p.follows} each; a celebrity with {p.celebrity_followers:,} followers")
    return [save(fig, out, "feed_fanout")]


@scenario("feed-fanout", "social feed timelines on Redis: fan-out on write vs on read, and a celebrity pulled "
          "instead of pushed", topic="sharding", question="Design a distributed cache for a social media feed",
          source="System design scenario 3",
          setup="{users} users following {follows} others each, a celebrity followed by {celebrity_followers}; "
          "{post_rate} posts/s plus {celebrity_post_rate}/s from the celebrity, {read_rate} timeline reads/s, "
          "timelines of {timeline_length} posts in Redis lists ({service_us} µs per command); {duration} s per "
          "mode: {modes}.",
          watch="Redis commands per second and memory (the cost of pushing copies), read latency (the cost of "
          "pulling), and the read p99 while a celebrity's post is being fanned out.",
          params=Params, quick={"duration": 6.0, "users": 1_000, "celebrity_followers": 800, "read_rate": 300.0},
          runtime="6 s", takeaways=takeaways, figures=figures)
def run(p: Params, seed: int) -> Findings:
    return Findings([simulate(p, seed, m) for m in choices(p, "modes", MODES)], {})
