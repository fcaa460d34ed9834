"""Client-side connection pools, as redis-py's ``ConnectionPool`` and ``BlockingConnectionPool`` behave.

* :class:`ConnectionPool` hands out a free connection or makes a new one up to
  ``max_connections``; past that it raises ``ConnectionError("Too many
  connections")`` at once (redis-py ``ConnectionPool.make_connection``).
* :class:`BlockingConnectionPool` waits up to ``timeout`` seconds for a
  connection to be released, first come first served, then raises
  ``ConnectionError("No connection available.")`` (redis-py
  ``BlockingConnectionPool.get_connection``; ``timeout=None`` waits forever).

A connection is a small object with an id, so servers that keep
per-connection state (a transaction, subscriptions) can key it.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Generator
from typing import Any, cast

import simpy

from simcache.errors import UsageError
from simcache.sim.rpc import ConnectionError

_ids = itertools.count(1)


class Connection:
    """One connection of a pool."""

    __slots__ = ("id", "pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self.id = next(_ids)
        self.pool = pool

    def __repr__(self) -> str:
        return f"<Connection {self.id}>"


class ConnectionPool:
    """Connections made on demand up to ``max_connections``; an extra request fails at once.

    Args:
        env: the SimPy environment.
        max_connections: connections at most (redis-py's default is 2**31).
        name: for messages and metrics.
    """

    def __init__(self, env: simpy.Environment, max_connections: int = 2**31, name: str = "pool") -> None:
        if int(max_connections) != max_connections or max_connections < 1:
            raise UsageError(f"{name}: max_connections must be an integer >= 1, got {max_connections!r}")
        self.env = env
        self.name = name
        self.max_connections = int(max_connections)
        self._free: list[Connection] = []
        self.created = 0
        self.in_use = 0
        self.peak = 0
        self.exhausted = 0
        self.waited = 0

    def counters(self) -> dict[str, float]:
        return {"in_use": self.in_use, "created": self.created, "exhausted": self.exhausted, "waited": self.waited}

    def take(self) -> Connection | None:
        if self._free:
            c = self._free.pop()
        elif self.created < self.max_connections:
            self.created += 1
            c = Connection(self)
        else:
            return None
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use
        return c

    def get_connection(self) -> Generator[simpy.Event, Any, Connection]:
        """A connection (generator: ``conn = yield from pool.get_connection()``)."""
        c = self.take()
        if c is None:
            self.exhausted += 1
            raise ConnectionError("Too many connections")
        return c
        yield  # pragma: no cover - makes this a generator

    def release(self, conn: Connection) -> None:
        """Give a connection back."""
        self.in_use -= 1
        self._free.append(conn)


class BlockingConnectionPool(ConnectionPool):
    """At most ``max_connections``; a caller waits up to ``timeout`` seconds for one to be released.

    Args:
        env: the SimPy environment.
        max_connections: connections at most (redis-py's default here is 50).
        timeout: seconds to wait for a connection (None: forever; redis-py's default is 20).
        name: for messages and metrics.
    """

    def __init__(self, env: simpy.Environment, max_connections: int = 50, timeout: float | None = 20.0,
                 name: str = "pool") -> None:
        super().__init__(env, max_connections, name)
        if timeout is not None and not timeout >= 0:
            raise UsageError(f"{name}: timeout must be >= 0 seconds or None, got {timeout!r}")
        self.timeout = timeout
        self._waiters: deque[simpy.Event] = deque()

    def get_connection(self) -> Generator[simpy.Event, Any, Connection]:
        if not self._waiters:
            c = self.take()
            if c is not None:
                return c
        self.waited += 1
        ev = self.env.event()
        self._waiters.append(ev)
        if self.timeout is None:
            yield ev
        else:
            yield ev | self.env.timeout(self.timeout)
        if ev.triggered:
            return cast(Connection, ev.value)
        self._waiters.remove(ev)
        self.exhausted += 1
        raise ConnectionError("No connection available.")

    def release(self, conn: Connection) -> None:
        while self._waiters:
            ev = self._waiters.popleft()
            if not ev.triggered:
                ev.succeed(conn)  # handed straight over: still in use
                return
        super().release(conn)
