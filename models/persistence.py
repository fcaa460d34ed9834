"""Persistence model: a Redis with RDB save rules and/or an AOF, a crash or a power loss, and the restart.

Clients on ``app`` write (``SET``, Poisson at ``write_rate``) to one Redis
(``redis``), by default each write to a key of its own, so every lost write
counts.  Persistence is the seed's (``save 900 1 300 10 60 10000``,
``appendonly yes``, ``appendfsync everysec``) unless set otherwise.  At
``fault_at`` (if before the end of the run) the Redis process crashes (``fault=crash``: the OS page cache
survives) or its host loses power (``fault=power-loss``: it does not), and
it restarts ``restart_after`` seconds later, loading the AOF (if enabled) or
the last RDB at ``aof_load_rate`` / ``load_rate`` bytes/s — replying
``LOADING`` meanwhile.  ``preload_bytes`` fills the dataset at the start (a
bigger dataset: longer forks, saves and loads).  Other faults go through
the fault lines (``--fault pause:redis@10+1``...).

Summary: ``writes`` outcomes; ``acknowledged_writes`` and
``acknowledged_writes_lost`` (the ledger against the dataset after the
restart); ``loss_window_s`` (from the first lost write's acknowledgement to
the fault: how much history the fault took); ``loading_s`` and
``unavailable_s`` (from the fault until the first write succeeded again);
``persistence`` (RDB saves, last save, fork time, AOF size, delayed fsyncs,
what the restart loaded); ``availability`` per window; ``markers``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simcache.catalog import model
from simcache.sim import faults as faults_mod
from simcache.sim.dists import check_dists
from simcache.sim.ledger import Ledger
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.persistence import FSYNC_POLICIES, SEED_SAVE, parse_save
from simcache.sim.rpc import RemoteError
from simcache.sim.world import World


@dataclass(frozen=True)
class PersistenceParams:
    """Parameters of the persistence model (times in seconds; rates in bytes per second)."""

    duration: float = 60.0
    write_rate: float = 1000.0
    keys: int = 0
    value_size: int = 100
    preload_bytes: int = 0
    save: str = SEED_SAVE
    appendonly: bool = True
    appendfsync: Literal["always", "everysec", "no"] = "everysec"
    fsync_time: str = "const:0.002"
    fault: Literal["crash", "power-loss", "none"] = "crash"
    fault_at: float = 30.0
    restart_after: float = 5.0
    load_rate: float = 200e6
    aof_load_rate: float = 50e6
    rdb_save_rate: float = 200e6
    fork_time_per_gb: float = 0.013
    os_dirty_expire: float = 30.0
    os_writeback_interval: float = 5.0
    hz: int = 10
    latency: str = "const:0.0005"
    service: str = "exp:0.00005"
    timeout: float = 1.0
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "window", "timeout", "load_rate", "aof_load_rate", "rdb_save_rate", "os_dirty_expire",
                  "os_writeback_interval", "restart_after"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        for f in ("write_rate", "fault_at", "fork_time_per_gb"):
            if not getattr(self, f) >= 0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)!r}")
        for f in ("keys", "value_size", "preload_bytes"):
            v = getattr(self, f)
            if int(v) != v or v < 0:
                raise ValueError(f"{f} must be an integer >= 0, got {v!r}")
        if int(self.hz) != self.hz or not 1 <= self.hz <= 500:
            raise ValueError(f"hz must be an integer in [1, 500], got {self.hz!r}")
        try:
            parse_save(self.save)
        except ValueError:
            raise ValueError(f"save must be pairs of 'seconds changes' such as {SEED_SAVE!r}, got "
                             f"{self.save!r}") from None
        if self.appendfsync not in FSYNC_POLICIES:
            raise ValueError(f"appendfsync must be one of {', '.join(FSYNC_POLICIES)}, got {self.appendfsync!r}")
        if self.fault not in ("crash", "power-loss", "none"):
            raise ValueError(f"fault must be one of crash, power-loss, none, got {self.fault!r}")
        check_dists(self, "fsync_time", "latency", "service")


class PersistenceRun:
    """The built system and its measurements."""

    def __init__(self, p: PersistenceParams, seed: int) -> None:
        self.p = p
        w = self.world = World(seed, window=p.window)
        w.network.add_node("app", "app")
        w.network.add_node("redis", "cache")
        w.network.add_link("app", "redis", p.latency)
        self.srv = RedisServer(w, "redis", service=p.service, hz=p.hz, save=p.save, appendonly=p.appendonly,
                               appendfsync=p.appendfsync, fsync_time=p.fsync_time, load_rate=p.load_rate,
                               aof_load_rate=p.aof_load_rate, rdb_save_rate=p.rdb_save_rate,
                               fork_time_per_gb=p.fork_time_per_gb, os_dirty_expire=p.os_dirty_expire,
                               os_writeback_interval=p.os_writeback_interval)
        if p.preload_bytes:
            # one big value, written through the command path so the AOF holds it too
            self.srv.dispatch((b"SET", b"preload", Value(0, p.preload_bytes)))
            self.srv.before_sleep()
        self.client = Redis(w, "app", self.srv, socket_timeout=p.timeout)
        self.ledger = Ledger()
        self._arr = w.rng("writers:arrivals")
        self._keys = w.rng("clients:keys")
        self.n = 0
        self.n_windows = int(np.ceil(p.duration / p.window))
        self.avail = {k: np.zeros(self.n_windows, dtype=np.int64) for k in ("write_ok", "write_fail")}
        self.outcomes = {"ok": 0, "error": 0, "timeout": 0, "loading": 0}
        self.first_ok_after_fault: float | None = None

    def _window(self, t: float) -> int:
        return min(int(t / self.p.window), self.n_windows - 1)

    def writers(self) -> Generator[Any, Any, None]:
        env = self.world.env
        p = self.p
        if not p.write_rate:
            return
        while True:
            yield env.timeout(float(self._arr.exponential(1.0 / p.write_rate)))
            if env.now >= p.duration:
                return
            self.n += 1
            key = f"k{self.n}" if not p.keys else f"k{int(self._keys.integers(p.keys))}"
            env.process(self._write(key))

    def _write(self, key: str) -> Generator[Any, Any, None]:
        w = self.world
        t0 = w.env.now
        v = Value(w.new_write_id(), self.p.value_size)
        try:
            yield from self.client.set(key, v)
        except RemoteError as err:
            kind = type(err).__name__
            self.outcomes["loading" if kind == "BusyLoadingError" else
                          "timeout" if kind == "TimeoutError" else "error"] += 1
            self.avail["write_fail"][self._window(w.env.now)] += 1
            return
        self.ledger.record(key, v, w.env.now, t0)
        self.outcomes["ok"] += 1
        self.avail["write_ok"][self._window(w.env.now)] += 1
        if self.p.fault != "none" and t0 > self.p.fault_at and self.first_ok_after_fault is None:
            self.first_ok_after_fault = w.env.now

    def fault(self) -> Generator[Any, Any, None]:
        p = self.p
        env = self.world.env
        yield env.timeout(p.fault_at)
        self.world.recorder.mark(env.now, "redis", p.fault)
        if p.fault == "power-loss":
            self.srv.power_loss()
        else:
            self.srv.crash()
        yield env.timeout(p.restart_after)
        self.world.recorder.mark(env.now, "redis", "restart")
        self.srv.restart()

    def run(self, faults: list[Any]) -> dict[str, Any]:
        w = self.world
        faults_mod.schedule(w, faults)
        w.process(self.writers())
        if self.p.fault != "none" and self.p.fault_at < self.p.duration:
            w.process(self.fault())
        w.run(self.p.duration)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        p = self.p
        srv = self.srv
        rep = self.ledger.losses(srv)
        out: dict[str, Any] = {"sim_requests": self.n, "duration": p.duration, "writes": dict(self.outcomes),
                               **rep.as_dict()}
        first = out.get("first_lost_ack_at")
        out["loss_window_s"] = (p.fault_at - first) if first is not None and p.fault != "none" else 0.0
        out["loading_s"] = float(srv.last_load.get("seconds", 0.0))
        out["unavailable_s"] = (self.first_ok_after_fault - p.fault_at
                                if self.first_ok_after_fault is not None else None)
        info = srv.persistence_info()
        out["persistence"] = {
            "loaded_from": srv.last_load.get("source", ""), "loaded_bytes": srv.last_load.get("bytes", 0),
            "rdb_saves_completed": sum(1 for m in self.world.recorder.markers() if m["kind"] == "bgsave-done"),
            "rdb_last_save_time": info["rdb_last_save_time"], "forks": srv.repl_stats["forks"],
            "fork_time_s": srv.repl_stats["fork_time"], "aof_current_size": srv.aof_bytes(),
            "aof_delayed_fsync": srv.aof_delayed_fsync}
        out["availability"] = [{"t": i * p.window, **{k: int(v[i]) for k, v in self.avail.items()}}
                               for i in range(self.n_windows)]
        out["markers"] = self.world.recorder.markers()
        out["faults"] = list(self.world.faults_applied)
        return out


@model("persistence", "Redis RDB save rules and AOF fsync policies: what a crash or a power loss loses, and the "
                      "restart", PersistenceParams)
def run(p: PersistenceParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return PersistenceRun(p, seed).run(list(faults or []))
