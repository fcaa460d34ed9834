"""The seed's caching strategies, line for line (``shared/seed/caching-and-data-stores.md``, "Caching Strategies").

Each class below follows the seed's code statement by statement; the only
change is ``yield from`` at every call that crosses the network (the
simulated Redis, the database) and at every blocking wait, so each method is
a generator run inside a SimPy process.  Their flaws are kept, on purpose —
they are what the simulation shows happening:

* :class:`CacheAside` — N concurrent misses of one key make N database reads
  (no single-flight); a write elsewhere leaves the cached copy stale for up
  to the TTL.
* :class:`WriteThrough` — the cache is written first: if the database write
  then fails, the cache serves a value the database never committed (a
  dirty read).  ``get`` reads only the cache, so a miss (eviction, expiry,
  cold start) returns None.
* :class:`WriteBehind` — writes wait in an in-memory queue of the app; a
  crash of the app loses exactly the writes still queued (and a batch being
  gathered).  The seed gives it no read path; reads here go cache-aside
  (:meth:`CacheAside.get`).

The objects they are given:

* ``cache`` — a :class:`SeedCache`: the redis-py-like client plus the
  seed's ``set(key, value, ttl=...)`` spelling;
* ``database`` — a :class:`~simcache.sim.database.DatabaseClient`
  (``get``, ``set``, ``batch_write``).

Fixes and other strategies live beside them in :mod:`simcache.sim.strategies`.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from simcache.sim.redis.client import Redis


class SeedCache:
    """The seed's ``cache`` object: a Redis client whose ``set`` also takes ``ttl=`` (seconds), as the seed writes.

    Every other attribute is the client's own (``get``, ``setex``, ``delete``, ``set(..., nx=True, ex=30)``).
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def set(self, key: Any, value: Any, ttl: float | None = None, **kwargs: Any) -> Any:
        """SET key value, with ``ttl`` seconds meaning EX (PX for a fraction of a second, as redis-py takes ints)."""
        if ttl is not None:
            if float(ttl).is_integer():
                kwargs["ex"] = int(ttl)
            else:
                kwargs["px"] = max(1, round(ttl * 1000))
        return self.redis.set(key, value, **kwargs)

    def get(self, key: Any) -> Any:
        """GET key."""
        return self.redis.get(key)

    def delete(self, *keys: Any) -> Any:
        """DEL key [key ...]."""
        return self.redis.delete(*keys)

    def __getattr__(self, name: str) -> Any:
        # every other redis-py method (setex, expire, pipeline, ...) is the client's own
        return getattr(self.redis, name)

    @property
    def host(self) -> Any:
        """The component the client runs on."""
        return self.redis.host


class SeedMemcache:
    """The seed's ``cache`` object over Memcached: ``get``, ``set(key, value, ttl=...)``, ``delete``.

    Keys are sent as their text (pymemcache takes str or bytes); ``ttl`` becomes memcached's ``expire``
    in whole seconds, rounded up so that a short TTL does not become "never".
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, key: Any) -> Any:
        """get key."""
        return self.client.get(str(key))

    def set(self, key: Any, value: Any, ttl: float | None = None) -> Any:
        """set key value [exptime]."""
        return self.client.set(str(key), value, expire=0 if ttl is None else max(1, math.ceil(ttl)))

    def delete(self, key: Any) -> Any:
        """delete key."""
        return self.client.delete(str(key))

    @property
    def host(self) -> Any:
        """The component the client runs on."""
        return self.client.host


class Empty(Exception):
    """``queue.Empty``: nothing arrived within the timeout."""


class Queue:
    """``queue.Queue`` in simulated time: ``put`` never blocks; ``yield from get(timeout=...)`` raises :class:`Empty`.

    Args:
        env: the SimPy environment.
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._store = simpy.Store(env)

    def put(self, item: Any) -> None:
        """Add an item (unbounded)."""
        self._store.put(item)

    def get(self, timeout: float | None = None) -> Generator[simpy.Event, Any, Any]:
        """The next item, waiting up to ``timeout`` seconds (None: forever)."""
        req = self._store.get()
        if timeout is None:
            return (yield req)
        if not req.triggered:
            yield req | self.env.timeout(timeout)
        if req.triggered:
            return req.value
        req.cancel()
        raise Empty

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._store.items)

    def drain(self) -> list[Any]:
        """Take every waiting item at once (what a crash of the process holding the queue loses)."""
        items = list(self._store.items)
        self._store.items.clear()
        return items


class CacheAside:
    """The seed's cache-aside (lazy loading): read the cache, on a miss read the database and fill the cache."""

    ttl: float = 3600

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database

    def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
        # Check cache first
        value = yield from self.cache.get(key)
        if value is not None:
            return value

        # Cache miss - fetch from database
        value = yield from self.db.get(key)
        if value is not None:
            # Update cache
            yield from self.cache.set(key, value, ttl=self.ttl)

        return value

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, Any]:
        """Not in the seed's class: the usual write of cache-aside (commit to the database, then delete the key)."""
        yield from self.db.set(key, value)
        yield from self.cache.delete(key)


class WriteThrough:
    """The seed's write-through: write the cache, then the database; read only the cache."""

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, Any]:
        # Write to cache first
        yield from self.cache.set(key, value)
        # Then write to database
        yield from self.db.set(key, value)

    def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
        # Always read from cache
        return (yield from self.cache.get(key))


class WriteBehind:
    """The seed's write-behind (write-back): write the cache, queue the database write, flush in batches."""

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database
        self.write_queue = Queue(cache.host.env)
        self.batch: list[Any] = []
        self.start_background_writer()

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, Any]:
        # Write to cache immediately
        yield from self.cache.set(key, value)
        # Queue for async database write
        self.write_queue.put((key, value))

    def background_writer(self) -> Generator[simpy.Event, Any, None]:
        while True:
            self.batch = batch = []
            # Batch writes for efficiency
            for _ in range(100):
                try:
                    item = yield from self.write_queue.get(timeout=0.1)
                    batch.append(item)
                except Empty:
                    break

            if batch:
                self.batch = []  # handed to the database: no longer only in this process's memory
                yield from self.db.batch_write(batch)

    # the seed's class has no read path; reads go cache-aside
    get = CacheAside.get
    ttl = CacheAside.ttl

    def start_background_writer(self) -> None:
        """Start :meth:`background_writer` as a background process of the app (the seed starts a thread)."""
        self.cache.host.spawn(self.background_writer())

    def on_crash(self) -> list[Any]:
        """The app died: the queued writes and the batch being gathered are gone; returns them."""
        lost = self.write_queue.drain() + self.batch
        self.batch = []
        return lost
