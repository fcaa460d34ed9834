"""Caching strategies by name: the seed's (:mod:`simcache.sim.seed`) and the known alternatives beside them.

A strategy is any class built as ``cls(cache, database)`` with generator
methods ``get(key)`` and ``set(key, value)``; ``cache`` is a
:class:`~simcache.sim.seed.SeedCache` (the redis-py-like client) and
``database`` a :class:`~simcache.sim.database.DatabaseClient`.  Its options
are its annotated class attributes (``ttl: float = 3600``), set by name from
a model (``--set strategy.ttl=60``) and validated here.

==========================  ===================================================
cache-aside                 the seed's ``CacheAside`` (reads); writes commit to
                            the database, then delete the cached key
write-through               the seed's ``WriteThrough``: cache first, then
                            database; reads only the cache
write-behind                the seed's ``WriteBehind``: cache, then an
                            in-memory queue flushed in batches of up to 100
write-through-db-first      database first, then the cache (with the TTL);
                            reads fall back to the database and fill
read-through                a loading cache on the app: concurrent misses of
                            one key on this app share one database read
write-around                writes go to the database only (no invalidation);
                            reads cache-aside, so copies stay until the TTL
refresh-ahead               cache-aside, plus a background reload when a hit
                            finds less than ``refresh_fraction`` of the TTL left
==========================  ===================================================

A user's own class runs by passing it (``strategy=MyStrategy``), by
registering it (:func:`register_strategy`), or by import path
(``"mypackage.module:MyStrategy"``).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable, Generator
from typing import Any

import simpy

from simcache.catalog import convert_value
from simcache.errors import UsageError
from simcache.sim.seed import CacheAside, SeedCache, WriteBehind, WriteThrough

STRATEGIES: dict[str, type] = {}


def register_strategy(name: str) -> Callable[[type], type]:
    """Class decorator: make ``cls`` available to models as strategy ``name``."""

    def deco(cls: type) -> type:
        if name in STRATEGIES and STRATEGIES[name] is not cls:
            raise UsageError(f"duplicate strategy name {name!r}")
        for m in ("get", "set"):
            if not callable(getattr(cls, m, None)):
                raise UsageError(f"strategy {name!r} needs a {m}(...) generator method")
        STRATEGIES[name] = cls
        return cls

    return deco


def strategy_class(spec: str | type) -> type:
    """The class a strategy name, import path (``"pkg.mod:Class"``) or class stands for."""
    if isinstance(spec, type):
        return spec
    if spec in STRATEGIES:
        return STRATEGIES[spec]
    if ":" in spec:
        mod, _, attr = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as err:
            raise UsageError(f"cannot import strategy {spec!r}: {err}") from None
        if not isinstance(cls, type):
            raise UsageError(f"strategy {spec!r} is not a class")
        return cls
    raise UsageError(f"unknown strategy {spec!r}; valid strategies: {', '.join(sorted(STRATEGIES))} "
                     "(or an import path 'package.module:Class')")


def strategy_options(cls: type) -> dict[str, Any]:
    """The options of a strategy class: annotated class attributes -> their defaults."""
    return {name: getattr(cls, name) for name in _option_types(cls)}


def _option_types(cls: type) -> dict[str, type]:
    out: dict[str, type] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        hints = typing.get_type_hints(klass)
        for name in vars(klass).get("__annotations__", {}):
            if not name.startswith("_") and hasattr(cls, name) and name in hints:
                out[name] = hints[name]
    return out


def make_strategy(spec: str | type, cache: SeedCache, database: Any, **options: Any) -> Any:
    """Build a strategy and apply its options (unknown names and bad values raise one clear line)."""
    cls = strategy_class(spec)
    types = _option_types(cls)
    name = spec if isinstance(spec, str) else cls.__name__
    for k in options:
        if k not in types:
            raise UsageError(f"strategy {name!r} has no option {k!r}; options: {', '.join(sorted(types)) or 'none'}")
    obj = cls(cache, database)
    for k, v in options.items():
        v = convert_value(f"strategy {name!r}", f"option {k!r}", types[k], v)
        check = getattr(obj, "check_option", None)
        if check is not None:
            check(k, v)
        setattr(obj, k, v)
    return obj


class WriteThroughDBFirst:
    """Write-through done the safer way: commit to the database first, then write the cache (with the TTL).

    Reads fall back to the database on a miss and fill the cache, so a miss is
    never answered with None.  A failed database write leaves the cache alone.
    """

    ttl: float = 3600

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, Any]:
        yield from self.db.set(key, value)
        yield from self.cache.set(key, value, ttl=self.ttl)

    get = CacheAside.get


class ReadThrough:
    """A loading cache on the app: a miss loads from the database once per key, concurrent misses wait for it.

    This is what read-through cache libraries do (a loader behind the cache,
    one load in flight per key); the single flight is per app process.
    Writes commit to the database, then delete the cached key.
    """

    ttl: float = 3600

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database
        self.loading: dict[Any, simpy.Event] = {}
        self.loads = 0
        self.coalesced = 0

    def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
        value = yield from self.cache.get(key)
        if value is not None:
            return value
        pending = self.loading.get(key)
        if pending is not None:
            self.coalesced += 1
            return (yield pending)
        done = self.loading[key] = self.cache.host.env.event()
        self.loads += 1
        try:
            value = yield from self.db.get(key)
            if value is not None:
                yield from self.cache.set(key, value, ttl=self.ttl)
        except Exception as err:
            done.fail(err)
            done.defused = True
            raise
        finally:
            self.loading.pop(key, None)
        done.succeed(value)
        return value

    set = CacheAside.set


class WriteAround:
    """Writes go to the database only; reads are cache-aside, so a cached copy stays stale until its TTL."""

    ttl: float = 3600

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database

    get = CacheAside.get

    def set(self, key: Any, value: Any) -> Generator[simpy.Event, Any, Any]:
        yield from self.db.set(key, value)


class RefreshAhead:
    """Cache-aside that reloads a key in the background when a hit finds less than ``refresh_fraction`` of its TTL.

    A hit reads the value and its remaining TTL in one round trip (a pipeline
    of GET and PTTL); the reload runs as a background process of the app, one
    at a time per key.
    """

    ttl: float = 3600
    refresh_fraction: float = 0.2

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database
        self.refreshing: set[Any] = set()
        self.refreshes = 0

    def check_option(self, name: str, value: Any) -> None:
        if name == "refresh_fraction" and not 0 < value < 1:
            raise UsageError(f"refresh-ahead: refresh_fraction must be in (0, 1), got {value!r}")

    def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
        pipe = self.cache.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.execute_command("PTTL", key)
        value, pttl = yield from pipe.execute()
        if value is not None:
            if 0 <= pttl < self.refresh_fraction * self.ttl * 1000 and key not in self.refreshing:
                self.refreshing.add(key)
                self.refreshes += 1
                self.cache.host.spawn(self._refresh(key))
            return value
        value = yield from self.db.get(key)
        if value is not None:
            yield from self.cache.set(key, value, ttl=self.ttl)
        return value

    def _refresh(self, key: Any) -> Generator[simpy.Event, Any, None]:
        try:
            value = yield from self.db.get(key)
            yield from self.cache.set(key, value, ttl=self.ttl)
        except Exception:  # noqa: BLE001 - a failed refresh leaves the old copy to expire
            pass
        finally:
            self.refreshing.discard(key)

    set = CacheAside.set


for _name, _cls in (("cache-aside", CacheAside), ("write-through", WriteThrough), ("write-behind", WriteBehind),
                    ("write-through-db-first", WriteThroughDBFirst), ("read-through", ReadThrough),
                    ("write-around", WriteAround), ("refresh-ahead", RefreshAhead)):
    register_strategy(_name)(_cls)
