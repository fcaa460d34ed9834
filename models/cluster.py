"""Redis Cluster: masters and replicas, a redis-py-like cluster client, a resharding and a master failure.

``masters`` masters (``redis-0``...) and ``replicas`` replicas each
(``redis-{masters}``...; the replica of ``redis-i`` is ``redis-{masters+i}``),
as ``redis-cli --cluster create --cluster-replicas`` leaves them, with the
seed's ``cluster-node-timeout 5000`` and ``cluster-require-full-coverage yes``
(:mod:`simcache.sim.redis.cluster`).  One client node (``client``) sends
``rate`` operations per second (Poisson) over ``keys`` keys (uniform), a
share ``write_fraction`` of them writes of a unique value, through
:class:`~simcache.sim.redis.cluster_client.ClusterRouter` (slot map,
MOVED, ASK, re-reading the map after connection errors), with a socket
timeout and ``retries`` retries (redis-py's ``cluster_error_retry_attempts``, 3).

Faults:

* ``reshard_at`` (< 0, or at or after the end: none): ``reshard_slots`` slots move from ``redis-1``
  to ``redis-2`` with their keys while the traffic goes on (``redis-cli
  --cluster reshard``: SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT, MIGRATE,
  SETSLOT NODE);
* ``fault`` at ``fault_at``: ``crash`` (``redis-0``'s host goes down: its
  replica is elected and promoted), ``partition`` (``redis-0`` and the client
  cut off from the rest for ``fault_duration``: the minority master refuses
  commands once it has flagged the others PFAIL, its replica takes over on
  the other side, and when the partition heals the old master becomes a
  replica of the new one, discarding what it took alone), or ``none``;
* any fault line (``crash:redis-1@40``...).

Summary (on top of the usual): ``availability`` per window (``t``,
``ok``, ``failed``, ``ratio``), ``unavailable_s`` (windows below 99 %),
``moved`` / ``ask`` / ``tryagain`` / ``clusterdown`` redirections the client
met and ``map_refreshes``; ``keys_moved`` / ``slots_moved`` by the resharding
and its ``reshard_s``; the failover timeline relative to the fault
(``pfail_at``, ``fail_at``, ``elected_at``, ``promoted_at``,
``clients_recovered_at``: the first successful write to a key of the failed
master's slots); ``acknowledged_writes_lost`` from the ledger against the
final masters' data (:mod:`simcache.sim.ledger`: writes begun after the value a key holds was acknowledged);
``cluster_state_fail_at`` of the minority master, ``isolated_writes_acked``
and ``isolated_write_window_s`` (partition: the writes the minority master
took, all discarded by its full resync after the heal).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import simpy

from simcache.catalog import model
from simcache.sim.dists import check_dists
from simcache.sim.ledger import Ledger, dataset_of
from simcache.sim.redis import Redis
from simcache.sim.redis.client import Retry
from simcache.sim.redis.cluster import ClusterNode, create_cluster, key_hash_slot, spread_slots
from simcache.sim.redis.cluster_client import ClusterRouter, reshard
from simcache.sim.report import SimResult
from simcache.sim.rpc import RemoteError
from simcache.sim.runner import System, simulate_system
from simcache.sim.world import World

Fault = Literal["crash", "partition", "none"]


@dataclass(frozen=True)
class ClusterParams:
    """Parameters of the cluster model (times in seconds)."""

    duration: float = 60.0
    masters: int = 3
    replicas: int = 1
    node_timeout: float = 5.0
    require_full_coverage: bool = True
    rate: float = 300.0
    write_fraction: float = 0.5
    keys: int = 1000
    socket_timeout: float = 0.5
    retries: int = 3
    latency: str = "const:0.0005"
    service: str = "exp:0.0001"
    reshard_at: float = 10.0
    reshard_slots: int = 500
    fault: Fault = "crash"
    fault_at: float = 30.0
    fault_duration: float = 20.0
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "node_timeout", "socket_timeout", "window", "fault_duration"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0 seconds, got {getattr(self, f)!r}")
        for f, lo in (("masters", 2), ("replicas", 0), ("keys", 1), ("reshard_slots", 1), ("retries", 0)):
            v = getattr(self, f)
            if int(v) != v or v < lo:
                raise ValueError(f"{f} must be an integer >= {lo}, got {v!r}")
        if self.fault not in ("crash", "partition", "none"):
            raise ValueError(f"fault must be one of crash, partition, none, got {self.fault!r}")
        if self.fault != "none" and self.replicas < 1:
            raise ValueError("fault needs replicas >= 1 (a replica takes over the failed master)")
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 operations/s, got {self.rate!r}")
        if not 0 <= self.write_fraction <= 1:
            raise ValueError(f"write_fraction must be in [0, 1], got {self.write_fraction!r}")
        if not 0 <= self.fault_at:
            raise ValueError(f"fault_at must be >= 0 seconds (at or after the end: no fault), got {self.fault_at!r}")
        check_dists(self, "latency", "service")


class ClusterTraffic:
    """Poisson reads and writes through the cluster client; every outcome logged, acknowledged writes ledgered."""

    def __init__(self, world: World, p: ClusterParams, client: Redis, ledger: Ledger) -> None:
        self.world = world
        self.p = p
        self.client = client
        self.ledger = ledger
        self.issued = 0
        self.finished = 0
        #: (time the operation ended, op, ok, key)
        self.log: list[tuple[float, str, bool, str]] = []
        self._keys = world.rng("client:keys")
        self._ops = world.rng("client:ops")
        self._arrivals = world.rng("client:arrivals")
        self._writes = 0

    def start(self) -> None:
        self.world.process(self._arrive())

    def _arrive(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            yield env.timeout(float(self._arrivals.exponential(1.0 / self.p.rate)))
            if env.now >= self.p.duration:
                return
            key = f"key:{int(self._keys.integers(self.p.keys))}"
            write = bool(self._ops.random() < self.p.write_fraction)
            self.world.process(self._op(key, write))

    def _op(self, key: str, write: bool) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        rec = self.world.recorder
        self.issued += 1
        t0 = env.now
        ok = True
        outcome = "ok"
        try:
            if write:
                self._writes += 1
                value = f"w{self._writes}"
                yield from self.client.set(key, value)
                self.ledger.record(key, value.encode(), env.now, t0)
            else:
                yield from self.client.get(key)
        except RemoteError as err:
            ok = False
            outcome = "timeout" if type(err).__name__ == "TimeoutError" else "error"
            rec.count("errors", type(err).__name__, env.now)
        self.finished += 1
        rec.request(env.now, env.now - t0, outcome, "write" if write else "read")
        self.log.append((env.now, "write" if write else "read", ok, key))


def build(p: ClusterParams, seed: int) -> System:
    """The cluster, a client node linked to every node, the traffic and the ledger."""
    w = World(seed=seed, window=p.window)
    nodes = create_cluster(w, p.masters, p.replicas, node_timeout=p.node_timeout,
                           require_full_coverage=p.require_full_coverage, service=p.service)
    w.network.add_node("client")
    names = [n.node for n in nodes] + ["client"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            w.network.add_link(a, b, p.latency)
    router = ClusterRouter(w, "client", nodes[:p.masters], socket_timeout=p.socket_timeout)
    client = Redis(w, "client", router=router, socket_timeout=p.socket_timeout, retry=Retry(retries=p.retries))
    ledger = Ledger()
    traffic = ClusterTraffic(w, p, client, ledger)
    return System(w, [traffic], [n.name for n in nodes],
                  parts={"nodes": nodes, "router": router, "ledger": ledger, "traffic": traffic})


def final_dataset(nodes: list[ClusterNode]) -> dict[Any, Any]:
    """Each key's value on the master that serves its slot at the end (as the majority's nodes see it)."""
    judge = max((n for n in nodes if n.up and n.myself.master and n.state_ok),
                key=lambda n: n.current_epoch, default=nodes[0])
    out: dict[Any, Any] = {}
    for n in nodes:
        for k, v in dataset_of(n).items():
            if judge.slots[key_hash_slot(k)] == n.id:
                out[k] = v
    return out


def _first(markers: list[dict[str, Any]], kind: str, detail: str | None = None, after: float = 0.0) -> float | None:
    for m in markers:
        if m["kind"] == kind and m["t"] >= after and (detail is None or m["detail"].startswith(detail)):
            return float(m["t"])
    return None


def simulate(p: ClusterParams, seed: int, faults: list[Any] | None = None) -> SimResult:
    """Run the cluster model and add its summary (see the module docstring)."""
    system = build(p, seed)
    w = system.world
    nodes: list[ClusterNode] = system.parts["nodes"]
    traffic: ClusterTraffic = system.parts["traffic"]
    traffic.start()
    stats: dict[str, Any] = {}
    if 0 <= p.reshard_at < p.duration:
        src, dst = nodes[1], nodes[2 % p.masters]
        first = src.slot_ranges()[0][0]

        def admin() -> Generator[simpy.Event, Any, None]:
            yield w.env.timeout(p.reshard_at)
            yield from reshard(w, "client", src, dst, range(first, first + p.reshard_slots),
                               masters=nodes[:p.masters], stats=stats)

        w.process(admin())
    lines = list(faults or [])
    if p.fault_at >= p.duration:
        pass  # the fault would come after the end of the run
    elif p.fault == "crash":
        lines.append(f"down:redis-0@{p.fault_at:g}")
    elif p.fault == "partition":
        rest = ",".join(n.node for n in nodes[1:])
        lines.append(f"partition:redis-0,client|{rest}@{p.fault_at:g}+{p.fault_duration:g}")
    result = simulate_system(system, p.duration, lines)
    s = result.summary
    router: ClusterRouter = system.parts["router"]
    s.update({k if k not in ("refreshes",) else "map_refreshes": v for k, v in router.stats.items()})
    s["keys_moved"] = stats.get("keys_moved", 0)
    s["slots_moved"] = stats.get("slots_moved", 0)
    s["reshard_s"] = (stats["ended_at"] - stats["started_at"]) if "ended_at" in stats else None
    # availability per window
    nwin = int(p.duration / p.window + 0.5)
    ok = [0] * nwin
    bad = [0] * nwin
    for t, _op, good, _k in traffic.log:
        i = min(int(t / p.window), nwin - 1)
        if good:
            ok[i] += 1
        else:
            bad[i] += 1
    s["availability"] = [{"t": i * p.window, "ok": ok[i], "failed": bad[i],
                          "ratio": ok[i] / (ok[i] + bad[i]) if ok[i] + bad[i] else None} for i in range(nwin)]
    s["unavailable_s"] = sum(p.window for a in s["availability"] if a["ratio"] is not None and a["ratio"] < 0.99)
    markers = w.recorder.markers()
    if p.fault != "none":
        rel: dict[str, float | None] = {}
        for key, kind, detail in (("pfail_at", "pfail", "redis-0"), ("fail_at", "fail", "redis-0"),
                                  ("elected_at", "elected", None), ("promoted_at", "promoted", None)):
            mt = _first(markers, kind, detail, p.fault_at)
            rel[key] = None if mt is None else mt - p.fault_at
        lo, hi = spread_slots(p.masters)[0]  # redis-0's slots (the resharding moves redis-1's)
        failed_slots = range(lo, hi + 1)
        rec_t = next((t for t, op, good, k in traffic.log if good and op == "write" and t > p.fault_at
                      and key_hash_slot(k) in failed_slots and (p.fault != "partition" or t > (
                          _first(markers, "promoted", None, p.fault_at) or 1e18))), None)
        rel["clients_recovered_at"] = None if rec_t is None else rec_t - p.fault_at
        s["failover"] = rel
        s.update(rel)
        if p.fault == "partition":
            end = p.fault_at + p.fault_duration
            isolated = [t for t, op, good, k in traffic.log if good and op == "write" and p.fault_at <= t < end]
            s["isolated_writes_acked"] = len(isolated)
            s["isolated_write_window_s"] = (max(isolated) - p.fault_at) if isolated else 0.0
            down = _first([m for m in markers if m["source"] == "redis-0"], "cluster-state-fail", None, p.fault_at)
            s["cluster_state_fail_at"] = None if down is None else down - p.fault_at
    report = system.parts["ledger"].losses(final_dataset(nodes))
    s.update(report.as_dict())
    s["final_masters"] = [n.name for n in nodes if n.up and n.myself.master]
    return result


@model("cluster", "Redis Cluster: slots, a resharding under traffic, a master failure and the replica's election",
       ClusterParams)
def run(p: ClusterParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults).summary
