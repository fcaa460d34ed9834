"""Replication model: a Redis primary and N replicas, writers on the primary, readers on the replicas, WAIT.

Clients on node ``app`` write (``SET key value``, Poisson at ``write_rate``)
to the current primary and read (``GET``, Poisson at ``read_rate``) from the
replicas (round-robin or random; ``read_from=master`` reads the primary).
Every value is a versioned :class:`~simcache.sim.oracle.Value`; the primary
tells the oracle when it applies a write, so each replica read is judged
stale (a newer write had been applied on the primary before the read was
invoked; its age), concurrent or fresh.  With ``wait_replicas`` > 0 each
write is followed by ``WAIT wait_replicas wait_timeout_ms`` (its replies are
counted).  Every acknowledged write goes into a
:class:`~simcache.sim.ledger.Ledger`, compared at the end with the dataset of
whichever server is then the primary: ``acknowledged_writes_lost``.

``promote_at`` > 0 performs a manual failover at that time (an operator
acting instantly, not Sentinel): ``r1`` gets ``REPLICAOF NO ONE``, the other
servers (the old primary included) ``REPLICAOF r1``, and the writers move to
``r1``.  Faults: components ``m``, ``r1``..``rN``; nodes ``app``, ``m``,
``r1``...; e.g. ``--fault partition:m,app|r1,r2@10+20``.

Reads invoked before ``warmup`` (the initial full syncs) are not judged and
lag is not sampled then.  Summary: ``writes`` and ``reads`` outcomes, ``replica_reads`` (stale share,
staleness age quantiles in ms), ``replication_lag`` (per replica, sampled
every 100 ms: bytes behind and seconds behind the primary's offset),
``wait`` replies, ``syncs`` (full and partial), ``acknowledged_writes_lost``
(and the ledger's other counts), ``availability`` per window (successful
and failed writes and reads), ``markers`` (the timeline).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simcache.catalog import model
from simcache.sim import faults as faults_mod
from simcache.sim.dists import check_dists
from simcache.sim.ledger import Ledger
from simcache.sim.oracle import CONCURRENT, STALE, Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.client import ReplicaReads, SingleNode
from simcache.sim.rpc import RemoteError, ResponseError, TimeoutError
from simcache.sim.world import World


@dataclass(frozen=True)
class ReplicationParams:
    """Parameters of the replication model (times in seconds; distributions as 'kind:p1,p2')."""

    duration: float = 60.0
    warmup: float = 10.0
    replicas: int = 2
    write_rate: float = 500.0
    read_rate: float = 2000.0
    keys: int = 10_000
    value_size: int = 100
    read_from: Literal["replicas", "master"] = "replicas"
    replica_reads: Literal["round-robin", "random"] = "round-robin"
    wait_replicas: int = 0
    wait_timeout_ms: int = 100
    min_replicas_to_write: int = 0
    min_replicas_max_lag: int = 10
    repl_backlog_size: int = 1 << 20
    repl_timeout: float = 60.0
    repl_diskless_sync_delay: float = 5.0
    replica_serve_stale_data: bool = True
    fork_time_per_gb: float = 0.013
    repl_transfer_rate: float = 125e6
    load_rate: float = 200e6
    preload: int = 0
    latency: str = "lognormal:0.0005,0.3"
    service: str = "exp:0.00005"
    timeout: float = 1.0
    promote_at: float = 0.0
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "window", "timeout", "repl_timeout", "repl_transfer_rate", "load_rate"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        for f in ("write_rate", "read_rate", "promote_at", "repl_diskless_sync_delay", "fork_time_per_gb"):
            if not getattr(self, f) >= 0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)!r}")
        for f, lo in (("replicas", 1), ("keys", 1), ("value_size", 0), ("wait_replicas", 0), ("wait_timeout_ms", 0),
                      ("min_replicas_to_write", 0), ("min_replicas_max_lag", 0), ("repl_backlog_size", 1),
                      ("preload", 0)):
            v = getattr(self, f)
            if int(v) != v or v < lo:
                raise ValueError(f"{f} must be an integer >= {lo}, got {v!r}")
        if self.read_from not in ("replicas", "master"):
            raise ValueError(f"read_from must be 'replicas' or 'master', got {self.read_from!r}")
        if self.replica_reads not in ("round-robin", "random"):
            raise ValueError(f"replica_reads must be 'round-robin' or 'random', got {self.replica_reads!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup!r}")
        if self.promote_at and self.promote_at >= self.duration:
            raise ValueError(f"promote_at must be < duration (0: no failover), got {self.promote_at!r}")
        check_dists(self, "latency", "service")


class ReplicationRun:
    """The built system and its measurements (``run()`` drives it)."""

    def __init__(self, p: ReplicationParams, seed: int) -> None:
        self.p = p
        w = self.world = World(seed, window=p.window)
        net = w.network
        names = ["m"] + [f"r{i}" for i in range(1, p.replicas + 1)]
        for a in names:
            net.add_node(a, "cache")
        net.add_node("app", "app")
        for i, a in enumerate(names):
            net.add_link("app", a, p.latency)
            for b in names[i + 1:]:
                net.add_link(a, b, p.latency)
        common: dict[str, Any] = dict(
            service=p.service, repl_backlog_size=p.repl_backlog_size, repl_timeout=p.repl_timeout,
            repl_diskless_sync_delay=p.repl_diskless_sync_delay, fork_time_per_gb=p.fork_time_per_gb,
            repl_transfer_rate=p.repl_transfer_rate, load_rate=p.load_rate,
            replica_serve_stale_data=p.replica_serve_stale_data, min_replicas_to_write=p.min_replicas_to_write,
            min_replicas_max_lag=p.min_replicas_max_lag)
        self.master = RedisServer(w, "m", **common)
        for i in range(p.preload):
            self.master.dispatch((b"SET", f"key:{i}".encode(), Value(0, p.value_size)))
        self.replicas = [RedisServer(w, n, replicaof="m", **common) for n in names[1:]]
        self.servers = [self.master, *self.replicas]
        for s in self.servers:
            s.on_write.append(self._committed)
        self.primary: RedisServer = self.master
        self.writer = Redis(w, "app", self.master, socket_timeout=p.timeout)
        read_router = (ReplicaReads(self.master, list(self.replicas), p.replica_reads,
                                    w.rng("readers:replica") if p.replica_reads == "random" else None)
                       if p.read_from == "replicas" else None)
        self.reader = (Redis(w, "app", router=read_router, socket_timeout=p.timeout, name="readers")
                       if read_router is not None else Redis(w, "app", self.master, socket_timeout=p.timeout,
                                                             name="readers"))
        self.ledger = Ledger()
        self.issued = 0
        self._keys_rng = w.rng("clients:keys")
        self._warr = w.rng("writers:arrivals")
        self._rarr = w.rng("readers:arrivals")
        self.n_windows = int(np.ceil(p.duration / p.window))
        self.avail = {k: np.zeros(self.n_windows, dtype=np.int64)
                      for k in ("write_ok", "write_fail", "read_ok", "read_fail")}
        self.outcomes = {"writes": {"ok": 0, "refused": 0, "error": 0, "timeout": 0},
                         "reads": {"ok": 0, "error": 0, "timeout": 0, "loading": 0}}
        self.errors: dict[str, int] = {}
        self.judged = {"fresh": 0, "stale": 0, "concurrent": 0, "empty": 0}
        self.stale_ages: list[float] = []
        self.wait_replies: dict[int, int] = {}
        self.wait_reached = 0
        # primary offset history (time, offset) for lag in seconds
        self._hist_t: list[float] = []
        self._hist_off: list[int] = []
        self.lag_bytes: dict[str, list[int]] = {r.name: [] for r in self.replicas}
        self.lag_seconds: dict[str, list[float]] = {r.name: [] for r in self.replicas}

    # --------------------------------------------------------------- traffic
    def _committed(self, key: Any, value: Any, t: float) -> None:
        if isinstance(value, Value) and value.wid:
            self.world.oracle.commit(key, value.wid, t)

    def _window(self, t: float) -> int:
        return min(int(t / self.p.window), self.n_windows - 1)

    def _key(self) -> str:
        return f"key:{int(self._keys_rng.integers(self.p.keys))}"

    def writers(self) -> Generator[Any, Any, None]:
        env = self.world.env
        p = self.p
        if not p.write_rate:
            return
        while True:
            yield env.timeout(float(self._warr.exponential(1.0 / p.write_rate)))
            if env.now >= p.duration:
                return
            self.issued += 1
            env.process(self._write(self._key()))

    def _write(self, key: str) -> Generator[Any, Any, None]:
        w = self.world
        t0 = w.env.now
        v = Value(w.new_write_id(), self.p.value_size)
        client = self.writer
        try:
            yield from client.set(key, v)
        except ResponseError as err:
            self._fail("writes", "refused", str(err).split(" ")[0], t0)
            return
        except TimeoutError:
            self._fail("writes", "timeout", "timeout", t0)
            w.oracle.abandoned(v.wid)
            return
        except RemoteError as err:
            self._fail("writes", "error", type(err).__name__, t0)
            return
        self.ledger.record(key, v, w.env.now, t0)
        self.outcomes["writes"]["ok"] += 1
        self.avail["write_ok"][self._window(w.env.now)] += 1
        if self.p.wait_replicas:
            try:
                n = yield from client.wait(self.p.wait_replicas, self.p.wait_timeout_ms)
            except RemoteError:
                return
            self.wait_replies[int(n)] = self.wait_replies.get(int(n), 0) + 1
            self.wait_reached += int(n) >= self.p.wait_replicas

    def _fail(self, kind: str, outcome: str, detail: str, t0: float) -> None:
        self.outcomes[kind][outcome] = self.outcomes[kind].get(outcome, 0) + 1
        self.errors[detail] = self.errors.get(detail, 0) + 1
        self.avail["write_fail" if kind == "writes" else "read_fail"][self._window(self.world.env.now)] += 1

    def readers(self) -> Generator[Any, Any, None]:
        env = self.world.env
        p = self.p
        if not p.read_rate:
            return
        while True:
            yield env.timeout(float(self._rarr.exponential(1.0 / p.read_rate)))
            if env.now >= p.duration:
                return
            self.issued += 1
            env.process(self._read(self._key()))

    def _read(self, key: str) -> Generator[Any, Any, None]:
        w = self.world
        t0 = w.env.now
        try:
            v = yield from self.reader.get(key)
        except TimeoutError:
            self.outcomes["reads"]["timeout"] += 1
            self.avail["read_fail"][self._window(w.env.now)] += 1
            return
        except RemoteError as err:
            name = type(err).__name__
            if name == "BusyLoadingError":
                self.outcomes["reads"]["loading"] += 1
            else:
                self.outcomes["reads"]["error"] += 1
            self.errors[name] = self.errors.get(name, 0) + 1
            self.avail["read_fail"][self._window(w.env.now)] += 1
            return
        self.outcomes["reads"]["ok"] += 1
        self.avail["read_ok"][self._window(w.env.now)] += 1
        if t0 < self.p.warmup:
            return
        wid = v.wid if isinstance(v, Value) else 0
        if v is None:
            self.judged["empty"] += 1
        verdict = w.oracle.judge(key.encode(), wid, t0, w.env.now)
        if verdict.kind == STALE:
            self.judged["stale"] += 1
            self.stale_ages.append(verdict.age)
        elif verdict.kind == CONCURRENT:
            self.judged["concurrent"] += 1
        elif v is not None:
            self.judged["fresh"] += 1

    def sampler(self) -> Generator[Any, Any, None]:
        env = self.world.env
        while True:
            yield env.timeout(0.1)
            prim = self.primary
            off = prim.master_repl_offset
            if not self._hist_off or off != self._hist_off[-1]:
                self._hist_t.append(env.now)
                self._hist_off.append(off)
            if env.now < self.p.warmup:
                continue
            for r in self.replicas:
                if r is prim or not r.up:
                    continue
                behind = max(off - r.master_repl_offset, 0)
                self.lag_bytes[r.name].append(behind)
                if behind == 0:
                    self.lag_seconds[r.name].append(0.0)
                else:
                    # when did the primary first pass the replica's offset?
                    i = bisect_left(self._hist_off, r.master_repl_offset + 1)
                    t = self._hist_t[i] if i < len(self._hist_t) else env.now
                    self.lag_seconds[r.name].append(max(env.now - t, 0.0))

    def failover(self) -> Generator[Any, Any, None]:
        env = self.world.env
        yield env.timeout(self.p.promote_at)
        new = self.replicas[0]
        new.unset_master()
        for s in self.servers:
            if s is not new and s.up:
                s.set_master(new.name, 6379)
        self.primary = new
        self.writer.router = SingleNode(new)
        if self.p.read_from == "master":
            self.reader.router = SingleNode(new)
        else:
            self.reader.router = ReplicaReads(new, [r for r in self.replicas if r is not new] or [new],
                                              self.p.replica_reads, self.world.rng("readers:replica-after-failover")
                                              if self.p.replica_reads == "random" else None)

    # ----------------------------------------------------------------- run
    def run(self, faults: list[Any]) -> dict[str, Any]:
        w = self.world
        faults_mod.schedule(w, faults)
        w.process(self.writers())
        w.process(self.readers())
        w.process(self.sampler())
        if self.p.promote_at:
            w.process(self.failover())
        w.run(self.p.duration)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        p = self.p
        losses = self.ledger.losses(self.primary)
        reads_judged = self.judged["fresh"] + self.judged["stale"] + self.judged["concurrent"]
        ages = np.asarray(self.stale_ages) * 1000
        lag: dict[str, Any] = {}
        for name in self.lag_bytes:
            b = np.asarray(self.lag_bytes[name], dtype=float)
            s = np.asarray(self.lag_seconds[name], dtype=float)
            lag[name] = {"bytes_mean": float(b.mean()) if b.size else 0.0,
                         "bytes_max": float(b.max()) if b.size else 0.0,
                         "seconds_p50": float(np.quantile(s, 0.5)) if s.size else 0.0,
                         "seconds_p99": float(np.quantile(s, 0.99)) if s.size else 0.0,
                         "seconds_max": float(s.max()) if s.size else 0.0}
        syncs = {"full": sum(s.repl_stats["sync_full"] for s in self.servers),
                 "partial": sum(s.repl_stats["sync_partial_ok"] for s in self.servers),
                 "forks": sum(s.repl_stats["forks"] for s in self.servers)}
        out: dict[str, Any] = {
            "sim_requests": self.issued,
            "duration": p.duration,
            "primary": self.primary.name,
            "writes": dict(self.outcomes["writes"]),
            "reads": dict(self.outcomes["reads"]),
            "errors": dict(self.errors),
            "replica_reads": {
                "judged": reads_judged, **{k: v for k, v in self.judged.items()},
                "stale_fraction": self.judged["stale"] / reads_judged if reads_judged else 0.0,
                "stale_age_ms": {"p50": float(np.quantile(ages, 0.5)), "p99": float(np.quantile(ages, 0.99)),
                                 "max": float(ages.max())} if ages.size else {}},
            "replication_lag": lag,
            "syncs": syncs,
            **losses.as_dict(),
            "availability": [{"t": i * p.window, **{k: int(v[i]) for k, v in self.avail.items()}}
                             for i in range(self.n_windows)],
            "markers": self.world.recorder.markers(),
            "faults": list(self.world.faults_applied),
        }
        if p.wait_replicas:
            out["wait"] = {"replies": {str(k): v for k, v in sorted(self.wait_replies.items())},
                           "reached": self.wait_reached}
        return out


@model("replication", "Redis primary + replicas: replica reads and their staleness, lag, WAIT, lost writes",
       ReplicationParams)
def run(p: ReplicationParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return ReplicationRun(p, seed).run(list(faults or []))
