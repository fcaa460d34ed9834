"""Sentinel failover: the seed's Sentinel setup, a master failure, and how long clients are without a master.

A master ``redis-0`` with two replicas ``redis-1`` and ``redis-2`` (asynchronous
replication, :mod:`simcache.sim.redis.replication`), three sentinels
``sentinel-0..2`` monitoring it as ``mymaster`` with the seed's settings
(quorum 2, ``down-after-milliseconds`` 5000, ``failover-timeout`` 60000,
``parallel-syncs`` 1; :mod:`simcache.sim.redis.sentinel`), and ``clients``
open-loop clients on their own nodes writing unique keys and reading them back
through redis-py-like Sentinel-managed connections (``Sentinel.master_for``).

The fault, at ``fault_at`` for ``fault_duration`` seconds (0: for good):

* ``crash`` — the master's process dies and restarts with its data
  (``crash-warm``); it is back as a master that Sentinel converts to a replica;
* ``down`` — its host goes down (nobody hears a reset; everyone times out);
  it comes back empty;
* ``partition`` — the master alone is cut off from everyone.

Summary (besides the usual latency and outcomes): ``availability`` (share of
operations that succeeded, per ``window``), ``acknowledged_writes_lost``
(acknowledged writes absent from the final master, by the ledger), and the
failover timeline relative to the fault: ``sdown_at`` (first sentinel),
``odown_at``, ``try_failover_at``, ``elected_at``, ``selected_at``,
``promoted_at`` (the leader sees the replica report ``role:master``),
``switch_master_at`` (the leader's ``+switch-master``), ``converted_at`` (the
old master told to replicate), ``clients_recovered_at`` (first write the
final master acknowledged after the first failure following the fault, and
``recovered_at_by_client``); ``new_master``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simcache.catalog import model
from simcache.sim.dists import check_dists
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
FAULTS = ("crash", "down", "partition", "none")


@dataclass(frozen=True)
class SentinelFailoverParams:
    """Parameters of the sentinel-failover model (times in seconds unless named ``_ms``)."""

    duration: float = 120.0
    fault: Literal["crash", "down", "partition", "none"] = "crash"
    fault_at: float = 30.0
    fault_duration: float = 40.0
    quorum: int = 2
    down_after_ms: int = 5000
    failover_timeout_ms: int = 60000
    parallel_syncs: int = 1
    replica_priorities: str = "100,100"
    clients: int = 2
    rate: float = 100.0
    write_fraction: float = 0.5
    socket_timeout: float = 0.5
    sentinel_timeout: float = 0.2
    discover: Literal["masters", "get-master-addr-by-name"] = "masters"
    latency: str = "const:0.0005"
    min_replicas_to_write: int = 0
    min_replicas_max_lag: int = 10
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "window", "socket_timeout", "sentinel_timeout"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0 seconds, got {getattr(self, f)!r}")
        if self.fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, got {self.fault!r}")
        if not self.fault_at >= 0:
            raise ValueError(f"fault_at must be >= 0 seconds (at or after duration: no fault), got {self.fault_at!r}")
        if not self.fault_duration >= 0:
            raise ValueError(f"fault_duration must be >= 0 seconds (0: for good), got {self.fault_duration!r}")
        for f in ("quorum", "down_after_ms", "failover_timeout_ms", "parallel_syncs", "clients"):
            if int(getattr(self, f)) != getattr(self, f) or getattr(self, f) < 1:
                raise ValueError(f"{f} must be an integer >= 1, got {getattr(self, f)!r}")
        for f in ("min_replicas_to_write", "min_replicas_max_lag"):
            if int(getattr(self, f)) != getattr(self, f) or getattr(self, f) < 0:
                raise ValueError(f"{f} must be an integer >= 0, got {getattr(self, f)!r}")
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 operations/s per client, got {self.rate!r}")
        if not 0 <= self.write_fraction <= 1:
            raise ValueError(f"write_fraction must be in [0, 1], got {self.write_fraction!r}")
        self.priorities()
        check_dists(self, "latency")

    def priorities(self) -> list[int]:
        """``replica-priority`` of each replica (the count of them too)."""
        try:
            out = [int(x) for x in self.replica_priorities.split(",")]
        except ValueError:
            raise ValueError("replica_priorities must be integers >= 0 separated by ',', got "
                             f"{self.replica_priorities!r}") from None
        if not out or any(x < 0 for x in out):
            raise ValueError(f"replica_priorities must be integers >= 0 separated by ',', got "
                             f"{self.replica_priorities!r}")
        return out


def build(p: SentinelFailoverParams, seed: int, client_nodes: list[str] | None = None) -> System:
    """The master, its replicas, three sentinels and the clients, on one flat network."""
    return sentinel_system(seed, window=p.window, client_nodes=client_nodes or [f"client-{i}" for i in range(p.clients)],
                           latency=p.latency, replica_priorities=p.priorities(), quorum=p.quorum,
                           down_after_ms=p.down_after_ms, failover_timeout_ms=p.failover_timeout_ms,
                           parallel_syncs=p.parallel_syncs, min_replicas_to_write=p.min_replicas_to_write,
                           min_replicas_max_lag=p.min_replicas_max_lag, rate=p.rate,
                           write_fraction=p.write_fraction, socket_timeout=p.socket_timeout,
                           sentinel_timeout=p.sentinel_timeout, discover=p.discover, master=MASTER)


def fault_lines(p: SentinelFailoverParams, system: System) -> list[str]:
    """The fault schedule the parameters describe."""
    if p.fault == "none":
        return []
    dur = f"+{p.fault_duration:g}" if p.fault_duration > 0 else ""
    if p.fault == "crash":
        return [f"crash-warm:redis-0@{p.fault_at:g}{dur}"]
    if p.fault == "down":
        return [f"down:redis-0@{p.fault_at:g}{dur}"]
    others = sorted(set(system.world.network.nodes) - {"redis-0"})
    return [f"partition:redis-0|{','.join(others)}@{p.fault_at:g}{dur}"]


def simulate(p: SentinelFailoverParams, seed: int, faults: list[Any] | None = None) -> SimResult:
    """Build, apply the fault (and any extra fault lines), run, summarise."""
    system = build(p, seed)
    result = simulate_system(system, p.duration, fault_lines(p, system) + list(faults or []))
    s = result.summary
    sentinels = system.parts["sentinels"]
    master = final_master(sentinels, MASTER)
    s["new_master"] = master.name
    s.update(system.parts["ledger"].losses(master).as_dict())
    s.update(failover_timeline(sentinels, MASTER, "redis-0", p.fault_at))
    s.update(client_summary(system.parts["clients"], p.fault_at, p.window, p.duration, master.name))
    s["sentinel_events"] = sum(len(x.events) for x in sentinels)
    return result


@model("sentinel-failover", "Redis Sentinel (the seed's 3 sentinels, quorum 2, 5 s down-after) failing a master over",
       SentinelFailoverParams)
def run(p: SentinelFailoverParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults).summary


def figures(result: SimResult, out_dir: Any) -> list[Any]:
    """``latency.png`` and ``timeline.png`` with the faults and the first of each failover step."""
    return failover_figures(result, out_dir)
