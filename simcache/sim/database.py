"""The database: the source of truth, with versioned values, bounded connections and an optional query cache.

Commands (a :class:`~simcache.sim.server.Server` command table):

* ``GET key`` -> the key's latest :class:`~simcache.sim.oracle.Value`
  (every key exists, at first as write id 0);
* ``SET key value`` -> the version the write made; the write commits at the
  start of its service, stamped with that time, and is reported to the
  world's oracle; with probability ``write_error_rate`` it fails instead
  (nothing committed, error reply ``ERR db_error``);
* ``BATCH key value key value ...`` -> the versions (one service draw per item);
* ``DEL key`` -> 1 (the key returns to an empty value, write id of a tombstone).

``connections`` commands are served in parallel (the rest queue FIFO), as a
connection pool in front of a database would.  A read the query cache
answers costs ``query_cache_service`` instead of ``read_service``; a write
drops the key from the query cache.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.sim.dists import Dist, uniform_sampler
from simcache.sim.oracle import Value
from simcache.sim.rpc import Call, Deadlines, ReplyError, call
from simcache.sim.server import Queueing, Server, command
from simcache.sim.world import World
from simcache.store import Cache


class Database(Server):
    """A versioned key-value database.

    Args:
        world: the simulation world.
        name: component name (also its node unless ``node`` is given).
        node: network node.
        read_service: service time of a read.
        write_service: service time of a write (per item of a batch).
        connections: commands served in parallel.
        query_cache: entries of an LRU query cache (0: none).
        query_cache_service: service time of a read the query cache answers.
        write_error_rate: probability that a write fails.
        value_size: bytes of a key's value before its first write.
        queueing: ``"fast"`` or ``"events"`` (see :mod:`simcache.sim.server`).
    """

    GAUGES = ("up", "queued", "busy_workers")

    def __init__(self, world: World, name: str = "db", node: str | None = None,
                 read_service: Dist | str | float = "exp:0.002", write_service: Dist | str | float = "exp:0.004",
                 connections: int = 16, query_cache: int = 0,
                 query_cache_service: Dist | str | float = "exp:0.0002", write_error_rate: float = 0.0,
                 value_size: int = 100, queueing: Queueing = "fast") -> None:
        super().__init__(world, name, node, read_service, connections, queueing)
        if not 0.0 <= write_error_rate <= 1.0:
            raise UsageError(f"{name}: write_error_rate must be in [0, 1], got {write_error_rate!r}")
        if int(query_cache) != query_cache or query_cache < 0:
            raise UsageError(f"{name}: query_cache must be an integer >= 0 (entries), got {query_cache!r}")
        self.write_service = Dist.parse(write_service)
        self._wsvc = self.write_service.sampler(world.rng(f"{name}:write"))
        self.qc_service = Dist.parse(query_cache_service)
        self._qsvc = self.qc_service.sampler(world.rng(f"{name}:query_cache"))
        self._coin = uniform_sampler(world.rng(f"{name}:errors"))
        self.write_error_rate = float(write_error_rate)
        self.qc = Cache("lru", int(query_cache), clock=lambda: self.env.now) if query_cache else None
        self.value_size = int(value_size)
        #: key -> latest committed value
        self.data: dict[Any, Value] = {}
        self.reads = 0
        self.writes = 0
        self.write_errors = 0
        self._cost = 0.0
        self.watch()

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(reads=self.reads, writes=self.writes, write_errors=self.write_errors)
        if self.qc is not None:
            d.update(qc_hits=self.qc.stats.hits, qc_misses=self.qc.stats.misses)
        return d

    def service_time(self, call: Call) -> float:
        return self._cost

    def execute(self, call: Call) -> Any:
        self._cost = 0.0
        return super().execute(call)

    # ----------------------------------------------------------- commands
    @command("GET")
    def _get(self, key: Any) -> Value:
        self.reads += 1
        if self.qc is not None:
            if self.qc.get_entry(key) is not None:
                self._cost += self._qsvc()
            else:
                self.qc.set(key, True)
                self._cost += self._svc()
        else:
            self._cost += self._svc()
        v = self.data.get(key)
        return v if v is not None else Value(0, self.value_size)

    def _commit(self, key: Any, value: Any) -> int:
        self._cost += self._wsvc()
        if self.write_error_rate and self._coin() < self.write_error_rate:
            self.write_errors += 1
            raise ReplyError("ERR db_error")
        if not isinstance(value, Value):
            value = Value(self.world.new_write_id(), len(value) if isinstance(value, bytes | str) else 100)
        self.data[key] = value
        self.writes += 1
        if self.qc is not None:
            self.qc.delete(key)
        return self.world.oracle.commit(key, value.wid, self.env.now)

    @command("SET")
    def _set(self, key: Any, value: Any) -> int:
        return self._commit(key, value)

    @command("BATCH")
    def _batch(self, *kv: Any) -> list[int]:
        if len(kv) % 2:
            raise ReplyError("ERR BATCH takes key value pairs")
        return [self._commit(kv[i], kv[i + 1]) for i in range(0, len(kv), 2)]

    @command("DEL")
    def _del(self, key: Any) -> int:
        return self._commit(key, Value(self.world.new_write_id(), 0))

    def reset_state(self) -> None:
        # a database is durable: a cold restart keeps committed data (its query cache is lost)
        if self.qc is not None:
            self.qc.clear()


class DatabaseClient:
    """A database driver for app code: ``value = yield from db.get(key)``, ``yield from db.set(key, value)``.

    Args:
        world: the simulation world.
        host: the caller's node (or component).
        db: the database server.
        timeout: seconds to wait for an answer (None: forever).
    """

    def __init__(self, world: World, host: Any, db: Database, timeout: float | None = None) -> None:
        self.world = world
        self.node = host if isinstance(host, str) else host.node
        self.host = None if isinstance(host, str) else host
        self.server = db
        self._deadlines = Deadlines(world.env, timeout, "database timeout") if timeout else None

    def _call(self, cmd: tuple[Any, ...], size: float = 0.0) -> Generator[simpy.Event, Any, Any]:
        value = yield from call(self.world, self.node, self.server, cmd, size=size, deadlines=self._deadlines,
                                host=self.host)
        if value.__class__ is Value:
            self.world.note_served(self.server.name)
        host = self.host
        if host is not None and host.env.now < host.paused_until:
            yield host.env.timeout(host.paused_until - host.env.now)
        return value

    def get(self, key: Any) -> Generator[simpy.Event, Any, Value]:
        """The key's latest committed value."""
        return self._call(("GET", key))

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, int]:
        """Write ``value``; the version it made."""
        return self._call(("SET", key, value), getattr(value, "size", 0))

    def batch_write(self, items: Sequence[tuple[Any, Any]]) -> Generator[simpy.Event, Any, list[int]]:
        """Write many ``(key, value)`` pairs in one command; their versions."""
        flat: list[Any] = ["BATCH"]
        for k, v in items:
            flat.extend((k, v))
        return self._call(tuple(flat), sum(getattr(v, "size", 0) for _, v in items))

    def delete(self, key: Any) -> Generator[simpy.Event, Any, int]:
        """Delete the key (a write of an empty value)."""
        return self._call(("DEL", key))
