"""A session store for millions of users: memory sizing, TTL, and what persistence and failover lose.

Composed from the simulated Redis and three models:

* memory: ``sample`` sessions (``SET session:ID value EX ttl``) into a :class:`~simcache.sim.redis.RedisServer`,
  its ``used_memory`` per key scaled to ``users`` active sessions;
* persistence (``persistence`` model, :mod:`simcache.sim.redis.persistence`): the host loses power while
  sessions are written, with the AOF (``appendfsync everysec``), with the seed's RDB save rules only, and
  with no persistence at all (a Memcached node, which has none, loses everything the same way);
* failover (``sentinel-failover`` model): the master crashes under the seed's Sentinel settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simcache.scenarios import Findings, check, num, positive, save, scenario, simulate
from simcache.sim.oracle import Value
from simcache.sim.redis import RedisServer
from simcache.sim.world import World


@dataclass(frozen=True)
class Params:
    """Parameters (times in seconds; ``session_bytes``: the serialised session)."""

    users: int = 5_000_000
    session_bytes: int = 500
    ttl: int = 1800
    sample: int = 2_000
    write_rate: float = 500.0
    fault_at: float = 25.0
    duration: float = 40.0

    def __post_init__(self) -> None:
        positive(self, "users", "session_bytes", "ttl", "sample", "write_rate", "duration")
        check(5 < self.fault_at < self.duration - 5, f"fault_at must be in (5, duration - 5), got {self.fault_at!r}")


def bytes_per_session(p: Params, seed: int) -> float:
    """``used_memory`` per session key of the simulated Redis (its own accounting), from ``sample`` sessions."""
    server = RedisServer(World(seed), "redis")
    before = server.used_memory
    for i in range(p.sample):
        server.dispatch((b"SET", f"session:{i:016x}".encode(), Value(0, p.session_bytes), b"EX", str(p.ttl).encode()))
    return (server.used_memory - before) / p.sample


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    rows = {r["setup"]: r for r in f.table}
    aof, rdb, none = rows["AOF everysec"], rows["RDB (seed's save rules)"], rows["no persistence"]
    return [f"Sizing: {num(n['bytes_per_session'])} bytes per session in Redis for a {num(p.session_bytes)}-byte "
            f"value, so {num(p.users)} sessions alive within the {num(p.ttl)} s TTL take {num(n['gb'], 3)} GB "
            f"(plus the replicas' copies); the TTL bounds memory by the users active in the last {num(p.ttl / 60)} "
            f"minutes.",
            f"A power loss at {num(p.fault_at)} s lost {num(aof['acknowledged_writes_lost'])} acknowledged session "
            f"writes with the AOF fsynced every second (the last {num(aof['loss_window_s'], 2)} s), "
            f"{num(rdb['acknowledged_writes_lost'])} with the seed's RDB rules only ("
            + (f"{num(rdb['rdb_saves'])} snapshot(s) taken before the fault" if rdb["rdb_saves"] else
               "no save rule had fired yet: 900 1, 300 10 and 60 10000 fire at 60 s at the earliest") + "), and "
            f"{num(none['acknowledged_writes_lost'])} — every session — with no persistence, as a Memcached node would.",
            f"A master crash under Sentinel: clients had no master for {num(n['failover_s'], 3)} s "
            f"({num(n['failover_errors'])} failed operations) and "
            + (f"{num(n['failover_lost'])} acknowledged writes were lost in the switch: they had not reached the "
               f"promoted replica (asynchronous replication)." if n["failover_lost"] else
               "no acknowledged write was lost: every one had reached the promoted replica before the crash.")]


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    with style():
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        names = [r["setup"] for r in f.table]
        ax.barh(names, [max(r["acknowledged_writes_lost"], 0.5) for r in f.table], color=PALETTE[3])
        ax.set_xscale("log")
        ax.set_xlabel("acknowledged session writes lost (log)")
        ax.set_title(f"Power loss at {p.fault_at:g} s, {p.write_rate:g} session writes/s")
        ax.invert_yaxis()
    return [save(fig, out, "session_store")]


@scenario("session-store", "a session store for millions of users: memory per session, TTL, and the sessions a "
          "power loss or a failover loses", topic="replication-and-failover",
          question="Build a session store for millions of users", source="System design scenario 2",
          setup="{users} sessions of {session_bytes} bytes with a {ttl} s TTL; {write_rate} session writes/s to one "
          "Redis whose host loses power at {fault_at} s (AOF everysec, RDB save rules, none); then the seed's "
          "Sentinel setup with its master crashing; {duration} s per run.",
          watch="Memory per session and in total; the acknowledged writes each persistence setting loses; the "
          "seconds without a master during the failover.",
          params=Params, quick={"duration": 20.0, "fault_at": 12.0, "write_rate": 200.0, "sample": 500},
          runtime="5 s", takeaways=takeaways, figures=figures, needs=("persistence", "sentinel-failover"))
def run(p: Params, seed: int) -> Findings:
    per = bytes_per_session(p, seed)
    table: list[dict[str, Any]] = []
    for label, extra in (("AOF everysec", {"appendonly": True, "appendfsync": "everysec"}),
                         ("RDB (seed's save rules)", {"appendonly": False}),
                         ("no persistence", {"appendonly": False, "save": ""})):
        s = simulate("persistence", {"duration": p.duration, "fault_at": p.fault_at, "fault": "power-loss",
                                     "write_rate": p.write_rate, "value_size": p.session_bytes, **extra}, seed).summary
        table.append({"setup": label, "acknowledged_writes": s["acknowledged_writes"],
                      "acknowledged_writes_lost": s["acknowledged_writes_lost"],
                      "loss_window_s": round(s["loss_window_s"], 3), "unavailable_s": round(s["unavailable_s"], 3),
                      "loaded_from": s["persistence"]["loaded_from"],
                      "rdb_saves": s["persistence"]["rdb_saves_completed"]})
    fo = simulate("sentinel-failover", {"duration": p.duration, "fault_at": p.fault_at - 5, "fault": "crash",
                                        "fault_duration": p.duration - p.fault_at}, seed).summary
    numbers = {"bytes_per_session": per, "gb": per * p.users / 1e9,
               "failover_s": fo["clients_recovered_at"], "failover_errors": fo["outcomes"]["error"],
               "failover_lost": fo["acknowledged_writes_lost"]}
    return Findings(table, numbers)
