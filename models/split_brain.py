"""Split brain: a master partitioned with some of its clients keeps taking their writes; the rejoin discards them.

The seed's Sentinel setup (master ``redis-0``, replicas ``redis-1`` and
``redis-2``, three sentinels, quorum 2, 5 s down-after, 60 s failover-timeout)
and two clients: ``client-0`` sits with the master, ``client-1`` with the
rest.  At ``fault_at`` the network splits into ``redis-0, client-0`` and
everyone else for ``fault_duration`` seconds.  The majority side fails over
(a replica is promoted, ``client-1`` follows it); the minority master goes on
accepting ``client-0``'s writes:

* with ``min_replicas_to_write = 0`` all the way through the partition;
* with ``min_replicas_to_write = 1`` it refuses writes (NOREPLICAS) once no
  replica has acknowledged for more than ``min_replicas_max_lag`` seconds
  (``refreshGoodSlavesCount``: lag in whole seconds, refreshed each second),
  i.e. within (max-lag − 1, max-lag + 2) s of the split.

When the partition heals, Sentinel sees the old master reporting
``role:master`` and sends it ``SLAVEOF`` the new one (``+convert-to-slave``);
it cannot continue the new master's history (its offset went past the
promoted replica's ``second_repl_offset``), so it full-resyncs and every write
it took alone is gone: ``acknowledged_writes_lost``.

With ``min_replicas_to_write = 1`` writes are refused from the start too,
until the replicas finish their first sync (about 7 s: the 5 s diskless-sync
delay and the transfer).

Between the heal and the conversion (up to an INFO period, 10 s, after the
8 s Sentinel waits) the old master is still a master, reachable again, and
``client-0`` keeps writing to it: those writes are lost too.

Summary: ``isolated_writes_acked`` (writes the old master acknowledged during
the split), ``old_master_writes_acked`` (all it acknowledged after the split,
until its conversion), ``isolated_write_window_s`` (from the split to the last
of them), ``isolated_stopped_at`` (its first refused write after the split,
relative to it), ``acknowledged_writes_lost`` (ledger against the final
master), ``lost_isolated`` (of those, the minority client's),
``new_master_sync_full`` / ``new_master_sync_partial_ok`` (the old master
comes back by a full resync, the other replica by a partial one), the failover
timeline (``sdown_at``, ``odown_at``, ``elected_at``, ``promoted_at``,
``switch_master_at``, ``converted_at``), ``clients_recovered_at`` (first write
the final master acknowledged after the first failure) with
``recovered_at_by_client``, and ``availability`` per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simcache.catalog import model
from simcache.sim.dists import check_dists
from simcache.sim.ledger import Ledger
from simcache.sim.redis.sentinel import (
    client_summary,
    failover_figures,
    failover_timeline,
    final_master,
    sentinel_system,
)
from simcache.sim.report import SimResult
from simcache.sim.runner import System, simulate_system

MASTER = "mymaster"


@dataclass(frozen=True)
class SplitBrainParams:
    """Parameters of the split-brain model (times in seconds unless named ``_ms``)."""

    duration: float = 120.0
    fault_at: float = 30.0
    fault_duration: float = 40.0
    min_replicas_to_write: int = 0
    min_replicas_max_lag: int = 10
    quorum: int = 2
    down_after_ms: int = 5000
    failover_timeout_ms: int = 60000
    rate: float = 100.0
    write_fraction: float = 0.5
    socket_timeout: float = 0.5
    sentinel_timeout: float = 0.2
    latency: str = "const:0.0005"
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "window", "socket_timeout", "sentinel_timeout", "fault_duration"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0 seconds, got {getattr(self, f)!r}")
        if not self.fault_at >= 0:
            raise ValueError(f"fault_at must be >= 0 seconds (at or after duration: no fault), got {self.fault_at!r}")
        for f in ("quorum", "down_after_ms", "failover_timeout_ms"):
            if int(getattr(self, f)) != getattr(self, f) or getattr(self, f) < 1:
                raise ValueError(f"{f} must be an integer >= 1, got {getattr(self, f)!r}")
        for f in ("min_replicas_to_write", "min_replicas_max_lag"):
            if int(getattr(self, f)) != getattr(self, f) or getattr(self, f) < 0:
                raise ValueError(f"{f} must be an integer >= 0, got {getattr(self, f)!r}")
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 operations/s per client, got {self.rate!r}")
        if not 0 < self.write_fraction <= 1:
            raise ValueError(f"write_fraction must be in (0, 1], got {self.write_fraction!r}")
        check_dists(self, "latency")


def build(p: SplitBrainParams, seed: int) -> System:
    """Master, two replicas, three sentinels, one client on each side of the coming split."""
    return sentinel_system(seed, window=p.window, client_nodes=["client-0", "client-1"], latency=p.latency,
                           quorum=p.quorum, down_after_ms=p.down_after_ms, failover_timeout_ms=p.failover_timeout_ms,
                           min_replicas_to_write=p.min_replicas_to_write, min_replicas_max_lag=p.min_replicas_max_lag,
                           rate=p.rate, write_fraction=p.write_fraction, socket_timeout=p.socket_timeout,
                           sentinel_timeout=p.sentinel_timeout, master=MASTER)


def simulate(p: SplitBrainParams, seed: int, faults: list[Any] | None = None) -> SimResult:
    """Split, run, and count what the isolated master took and what the rejoin discarded."""
    system = build(p, seed)
    nodes = system.world.network.nodes
    majority = sorted(set(nodes) - {"redis-0", "client-0"})
    split = f"partition:redis-0,client-0|{','.join(majority)}@{p.fault_at:g}+{p.fault_duration:g}"
    result = simulate_system(system, p.duration, [split, *(faults or [])])
    s = result.summary
    sentinels = system.parts["sentinels"]
    master = final_master(sentinels, MASTER)
    ledger: Ledger = system.parts["ledger"]
    report = ledger.losses(master)
    s["new_master"] = master.name
    s.update(report.as_dict())
    s["lost_isolated"] = sum(1 for a in report.lost_writes if bytes(a.key).startswith(b"client-0:"))
    end = p.fault_at + p.fault_duration
    log = system.parts["clients"][0].log
    old = [t for t, op, ok, srv in log if op == "write" and ok and srv == "redis-0" and t >= p.fault_at]
    refused = [t for t, op, ok, _ in log if op == "write" and not ok and p.fault_at <= t <= end]
    s["isolated_writes_acked"] = sum(1 for t in old if t <= end)
    s["old_master_writes_acked"] = len(old)
    s["isolated_write_window_s"] = (max(old) - p.fault_at) if old else 0.0
    s["isolated_stopped_at"] = (min(refused) - p.fault_at) if refused else None
    s.update(failover_timeline(sentinels, MASTER, "redis-0", p.fault_at))
    s.update(client_summary(system.parts["clients"], p.fault_at, p.window, p.duration, master.name))
    stats = getattr(master, "repl_stats", {})
    s["new_master_sync_full"] = stats.get("sync_full")
    s["new_master_sync_partial_ok"] = stats.get("sync_partial_ok")
    return result


@model("split-brain", "A master partitioned with some clients: writes it takes alone, and the rejoin discarding them",
       SplitBrainParams)
def run(p: SplitBrainParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults).summary


def figures(result: SimResult, out_dir: Any) -> list[Any]:
    """``latency.png`` and ``timeline.png`` with the faults and the first of each failover step."""
    return failover_figures(result, out_dir)
