"""Consistency and invalidation: the seed's invalidation snippets line for line, their flaws measured, the fixes.

From ``shared/seed/caching-and-data-stores.md``, "Cache Invalidation Strategies":

* :class:`TTLCache` ("TTL-Based Invalidation") — ``SETEX`` plus ``ZADD
  'ttl_tracker' {key: time.time() + ttl}``.  Its flaw: nothing ever removes
  a member from ``ttl_tracker``, so the sorted set holds one entry per
  distinct key ever cached, expired or not — with a key space that keeps
  producing new keys (sessions, request ids) it grows without bound.  The
  server's ``used_memory`` shows it.
* :class:`EventBasedCache` ("Event-Based Invalidation") — subscribes to
  ``'data_changed'`` on an event bus; on ``'user_updated'`` it deletes
  ``user:{id}``, ``user:{id}:posts`` and ``user:{id}:friends``.  The bus here
  (:class:`EventBus`) delivers each message after a delay drawn per message
  (so messages overtake each other) and loses some.  Its flaws: a key cached
  under a name not on the list (``user:{id}:settings``) stays stale until its
  TTL; a lost event leaves every listed key stale until its TTL; a delayed one
  leaves them stale for the delay.
* The seed's :class:`~simcache.sim.seed.CacheAside` ("Cache-Aside") caches no
  negative result (``if value is not None``): every read of a key the
  database does not have reaches the database (cache penetration).  Fixes:
  negative caching with a short TTL, and a Bloom filter of the keys that
  exist in front of the cache (:class:`PenetrationGuard`, :class:`BloomFilter`).

The cache-aside stale-set race, and the invalidations compared on it:

    reader: GET k -> miss; DB read -> version v ........................ SET k v
    writer:                        DB commit v+1; DEL k
                                                                  ^ the SET lands after the DEL:
                                                                    k holds v until its TTL

* ``none`` — TTL only: writes go to the database alone
  (:class:`~simcache.sim.strategies.WriteAround`);
* ``delete`` — the usual: commit, then DEL (the seed's ``CacheAside``);
* ``update`` — commit, then SET the new value
  (:class:`~simcache.sim.strategies.WriteThroughDBFirst`): the same race,
  with the writer's SET in place of the DEL;
* ``double-delete`` — commit, DEL, and DEL again ``double_delete_delay``
  later (:class:`DoubleDelete`): the race still happens, the second DEL cuts
  it short;
* ``versioned`` — every fill and every write's update is a script that sets
  only a newer version (:class:`VersionedSet`);
* ``lease`` — a miss takes a lease token, a write's DEL voids it, a fill with
  a void token is refused (:class:`Leases`, after Facebook's memcache leases);
* ``bus`` — commit, then publish an event that the seed's
  :class:`EventBasedCache` on every app turns into DELs (:class:`BusInvalidated`).

Measurement (:class:`StalenessAudit` on an :class:`AuditedRedisServer`)
follows the cache's content, not the strategies' intentions: after every
write command the server runs, the audit looks at what each key named in it
now holds, and compares that with the database's commits (the world's
oracle).  A cached copy is *stale* from the moment a newer version was
committed until it leaves the cache; a **stale fill** is a copy that was
already superseded when it was set; it is a **stale set** (the race above)
when the cache had been made clean (emptied, or given the latest version)
after that commit and before the copy landed — the SET landed after the
delete, so nothing on the write path will remove it.  A stale set a command
removes before any later commit (a second delete) is counted as repaired.

The rate of stale sets is estimated by :func:`stale_set_estimate` (see there
for the derivation).  The variants that need nothing but a cache and a
database are also strategies for any model: ``cache-aside-double-delete``,
``cache-aside-versioned``, ``cache-aside-lease``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import simpy

from simcache.errors import UsageError
from simcache.sim.component import Component
from simcache.sim.database import DatabaseClient
from simcache.sim.dists import Dist, uniform_sampler
from simcache.sim.metrics import LogHistogram
from simcache.sim.oracle import DIRTY, STALE, Value
from simcache.sim.redis.client import Redis
from simcache.sim.redis.scripting import register_lua
from simcache.sim.redis.server import RedisServer
from simcache.sim.rpc import RemoteError
from simcache.sim.seed import CacheAside, SeedCache
from simcache.sim.simtime import HostClock
from simcache.sim.strategies import register_strategy
from simcache.sim.world import World

if TYPE_CHECKING:
    from simcache.sim.redis.core import Spec
    from simcache.sim.report import SimResult

Gen = Generator[simpy.Event, Any, Any]


# ===================================================================== the seed
class TTLCache:
    """The seed's ``TTLCache``: SETEX, and a ``ttl_tracker`` sorted set of expiry times that nothing cleans.

    Args:
        redis: the Redis client (``self.redis`` in the seed).
        time: the host's clock; ``time.time()`` in the seed is ``self.time.time()`` here.
    """

    def __init__(self, redis: Redis, time: HostClock) -> None:
        self.redis = redis
        self.time = time

    def set(self, key: Any, value: Any, ttl: int = 3600) -> Gen:
        yield from self.redis.setex(key, ttl, value)
        # Also track in a sorted set for cleanup
        yield from self.redis.zadd('ttl_tracker', {key: self.time.time() + ttl})


@dataclass(frozen=True)
class Event:
    """A message on the event bus: ``event.type`` and ``event.user_id``, as the seed reads them."""

    type: str
    user_id: Any = None


class EventBasedCache:
    """The seed's ``EventBasedCache``: on ``'user_updated'``, delete the user's three listed keys.

    ``invalidate`` is a generator (it calls Redis); the bus runs it as a process on the subscriber's host.
    """

    def __init__(self, cache: Any, event_bus: BusEndpoint) -> None:
        self.cache = cache
        self.event_bus = event_bus
        self.event_bus.subscribe('data_changed', self.invalidate)

    def invalidate(self, event: Event) -> Gen:
        # Invalidate related cache entries
        if event.type == 'user_updated':
            keys = [
                f'user:{event.user_id}',
                f'user:{event.user_id}:posts',
                f'user:{event.user_id}:friends'
            ]
            for key in keys:
                yield from self.cache.delete(key)


# ============================================================ the event bus
class _Subscription:
    __slots__ = ("topic", "handler", "host", "epoch", "last_seq")

    def __init__(self, topic: str, handler: Callable[[Any], Any], host: Any) -> None:
        self.topic = topic
        self.handler = handler
        self.host = host
        self.epoch = getattr(host, "epoch", 0)
        self.last_seq = 0

    @property
    def alive(self) -> bool:
        """A subscription dies with the process that made it (a crash of its host)."""
        h = self.host
        return h is None or isinstance(h, str) or (h.up and h.epoch == self.epoch)


class EventBus(Component):
    """A message bus between app processes: at-most-once, unordered, delayed.

    Each message is delivered to each live subscription of its topic after
    its own delay draw (stream ``NAME:delay``), so a later message can
    overtake an earlier one; it is lost with probability ``loss`` (stream
    ``NAME:loss``).  A handler that returns a generator runs as a background
    process of the subscriber's host (an :class:`~simcache.sim.app.App`), and
    dies with it.  As a component the bus can fail: while it is down,
    publishes are lost; a crash loses the messages in flight; a pause holds
    deliveries until it ends.

    Args:
        world: the simulation world.
        name: component name.
        delay: delivery delay distribution (publish to handler start).
        loss: probability that one delivery is lost.
    """

    GAUGES = ("up",)

    def __init__(self, world: World, name: str = "bus", delay: Dist | str | float = "exp:0.01",
                 loss: float = 0.0) -> None:
        super().__init__(world, name)
        if not 0.0 <= loss <= 1.0:
            raise UsageError(f"{name}: loss must be in [0, 1], got {loss!r}")
        self.delay = Dist.parse(delay)
        self._delay = self.delay.sampler(world.rng(f"{name}:delay"))
        self._coin = uniform_sampler(world.rng(f"{name}:loss"))
        self.loss = float(loss)
        self.subscriptions: dict[str, list[_Subscription]] = {}
        self._seq = 0
        self.published = 0
        self.delivered = 0
        self.lost = 0
        self.reordered = 0
        self.dropped = 0
        self.handler_errors = 0
        self.watch()

    def counters(self) -> dict[str, float]:
        return {"up": float(self.up), "published": self.published, "delivered": self.delivered, "lost": self.lost,
                "reordered": self.reordered, "dropped": self.dropped, "handler_errors": self.handler_errors}

    def endpoint(self, host: Any) -> BusEndpoint:
        """The bus as seen from code running on ``host`` (a component, or a node name)."""
        return BusEndpoint(self, host)

    def subscribe(self, topic: str, handler: Callable[[Any], Any], host: Any = None) -> None:
        """Call ``handler(message)`` for every message published on ``topic`` from now on."""
        self.subscriptions.setdefault(topic, []).append(_Subscription(topic, handler, host))

    def publish(self, topic: str, message: Any) -> int:
        """Send ``message`` to the subscriptions of ``topic`` (fire and forget); how many copies left."""
        subs = self.subscriptions.get(topic)
        if subs is None:
            return 0
        live = [s for s in subs if s.alive]
        if len(live) != len(subs):
            self.subscriptions[topic] = live
        self._seq += 1
        self.published += 1
        if not self.up:
            self.lost += len(live)
            return 0
        sent = 0
        for s in live:
            if self.loss and self._coin() < self.loss:
                self.lost += 1
                continue
            ev = self.env.timeout(self._delay(), (s, self._seq, message, self.epoch))
            ev.callbacks.append(self._arrive)
            sent += 1
        return sent

    def _arrive(self, ev: simpy.Event) -> None:
        item = cast(tuple[_Subscription, int, Any, int], ev.value)
        s, seq, message, epoch = item
        if epoch != self.epoch:
            self.lost += 1  # the bus crashed while it was in flight
            return
        if self.env.now < self.paused_until:
            later = self.env.timeout(self.paused_until - self.env.now, item)
            later.callbacks.append(self._arrive)
            return
        if not s.alive:
            self.dropped += 1
            return
        if seq < s.last_seq:
            self.reordered += 1
        s.last_seq = max(s.last_seq, seq)
        self.delivered += 1
        out = s.handler(message)
        if isinstance(out, Generator):
            body = self._guard(out)
            spawn = getattr(s.host, "spawn", None)
            if spawn is not None:
                spawn(body)
            else:
                self.env.process(body)

    def _guard(self, gen: Gen) -> Gen:
        # a handler's remote call can fail (Redis down): the handler stops, the simulation goes on
        try:
            yield from gen
        except RemoteError:
            self.handler_errors += 1


class BusEndpoint:
    """``event_bus`` as app code holds it: ``subscribe(topic, handler)`` and ``publish(topic, message)``."""

    def __init__(self, bus: EventBus, host: Any) -> None:
        self.bus = bus
        self.host = host

    def subscribe(self, topic: str, handler: Callable[[Any], Any]) -> None:
        """Subscribe ``handler`` on behalf of this host's process."""
        self.bus.subscribe(topic, handler, self.host)

    def publish(self, topic: str, message: Any) -> int:
        """Publish ``message`` on ``topic``."""
        return self.bus.publish(topic, message)


# ================================================ invalidation strategies
def user_id_of(key: Any) -> str:
    """The user id in a key named ``user:{id}`` or ``user:{id}:{field}``."""
    parts = str(key).split(":")
    if len(parts) < 2 or parts[0] != "user":
        raise UsageError(f"key {key!r} is not named user:ID or user:ID:FIELD")
    return parts[1]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _redis_of(cache: Any, who: str) -> Redis:
    r = getattr(cache, "redis", None)
    if not isinstance(r, Redis):
        raise UsageError(f"{who} runs scripts: it needs a Redis cache (a SeedCache), got {type(cache).__name__}")
    return r


def _env(cache: Any) -> simpy.Environment:
    return _redis_of(cache, "this strategy").env


def _spawn(cache: Any, gen: Gen) -> None:
    """Run ``gen`` as a background process of the cache client's host (it dies with an app), or plainly."""
    spawn = getattr(getattr(cache, "host", None), "spawn", None)
    if spawn is not None:
        spawn(gen)
    else:
        _env(cache).process(gen)


class DoubleDelete:
    """Cache-aside whose write deletes the key, and deletes it again ``double_delete_delay`` seconds later.

    The second delete (a background process of the app) removes a stale copy that a reader's late fill set
    after the first one, if the fill landed within the delay.
    """

    ttl: float = 3600
    double_delete_delay: float = 0.5

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database

    def check_option(self, name: str, value: Any) -> None:
        if name == "double_delete_delay" and not value > 0:
            raise UsageError(f"double-delete: double_delete_delay must be > 0 seconds, got {value!r}")

    get = CacheAside.get

    def set(self, key: Any, value: Any) -> Gen:
        yield from self.db.set(key, value)
        yield from self.cache.delete(key)
        _spawn(self.cache, self._again(key))

    def _again(self, key: Any) -> Gen:
        yield _env(self.cache).timeout(self.double_delete_delay)
        try:
            yield from self.cache.delete(key)
        except RemoteError:
            pass  # the first delete stands; a copy set since stays until its TTL


def version_key(key: Any) -> str:
    """Where :class:`VersionedSet` keeps the version of the cached copy of ``key``."""
    return f"{key}#version"


def lease_key(key: Any) -> str:
    """Where :class:`Leases` keeps the outstanding lease token of ``key``."""
    return f"{key}#lease"


#: the counter lease tokens are drawn from
LEASE_COUNTER = "lease#counter"

VERSIONED_SET_LUA = """\
local cur = tonumber(redis.call('GET', KEYS[2]))
if cur and cur > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
"""


@register_lua(VERSIONED_SET_LUA)
def versioned_set(redis: Any, keys: list[Any], args: list[Any]) -> int:
    """KEYS: value key, version key; ARGV: version, value, TTL (ms).  Set unless a newer version is cached."""
    cur = redis.call("GET", keys[1])
    if cur is not None and int(cur) > int(args[0]):
        return 0
    redis.call("SET", keys[0], args[1], "PX", args[2])
    redis.call("SET", keys[1], args[0], "PX", args[2])
    return 1


LEASE_GET_LUA = """\
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
local token = redis.call('INCR', KEYS[3])
if redis.call('SET', KEYS[2], token, 'NX', 'PX', ARGV[1]) then return {0, token} end
return {0, false}
"""


@register_lua(LEASE_GET_LUA)
def lease_get(redis: Any, keys: list[Any], args: list[Any]) -> list[Any]:
    """KEYS: key, lease key, token counter; ARGV: lease TTL (ms).  ``[1, value]``, ``[0, token]`` or ``[0, nil]``."""
    v = redis.call("GET", keys[0])
    if v is not None:
        return [1, v]
    token = redis.call("INCR", keys[2])
    if redis.call("SET", keys[1], token, "NX", "PX", args[0]) is not None:
        return [0, token]
    return [0, False]


LEASE_SET_LUA = """\
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


@register_lua(LEASE_SET_LUA)
def lease_set(redis: Any, keys: list[Any], args: list[Any]) -> int:
    """KEYS: key, lease key; ARGV: token, value, TTL (ms).  Fill only while the token is still the lease."""
    if redis.call("GET", keys[1]) == args[0]:
        redis.call("SET", keys[0], args[1], "PX", args[2])
        redis.call("DEL", keys[1])
        return 1
    return 0


SCRIPTS_USED = (VERSIONED_SET_LUA, LEASE_GET_LUA, LEASE_SET_LUA)


def preload_scripts(server: RedisServer) -> None:
    """Load this module's scripts into ``server``'s script cache (as a deploy would with SCRIPT LOAD)."""
    for body in SCRIPTS_USED:
        server.compile_script(body.encode())


def row_version(db: DatabaseClient, key: Any, value: Value) -> int:
    """The version the database stamped on the row it returned.

    The core's ``GET`` replies with the value only; the version of that
    commit is read from the world's record of the database's commits (the
    oracle), which is what a version column would hold.
    """
    v = db.world.oracle.version_of(key, value.wid)
    return v if v is not None else db.world.oracle.version_at(key, db.world.now)


class VersionedSet:
    """Cache-aside with versions: every fill and every write's update is a script that sets only a newer version.

    The copy's version is kept beside it (``{key}#version``, same TTL); a
    reader's fill of version v is refused once version v+1 is cached, so the
    late fill of the race cannot overwrite it.
    """

    ttl: float = 3600

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database
        self.script = _redis_of(cache, "versioned").register_script(VERSIONED_SET_LUA)
        self.refused = 0

    def get(self, key: Any) -> Gen:
        value = yield from self.cache.get(key)
        if value is not None:
            return value
        value = yield from self.db.get(key)
        if isinstance(value, Value):
            yield from self._set(key, row_version(self.db, key, value), value)
        return value

    def set(self, key: Any, value: Any) -> Gen:
        version = yield from self.db.set(key, value)
        yield from self._set(key, version, value)

    def _set(self, key: Any, version: int, value: Any) -> Gen:
        ok = yield from self.script(keys=[key, version_key(key)], args=[version, value, _ms(self.ttl)])
        if not ok:
            self.refused += 1


class Leases:
    """Cache-aside with leases: a miss takes a token, a write's DEL voids it, a fill with a void token is refused.

    One lease per key at a time (``lease_ttl``): a reader that misses while
    another holds the lease reads the database and does not fill.
    """

    ttl: float = 3600
    lease_ttl: float = 10.0

    def __init__(self, cache: SeedCache, database: Any) -> None:
        self.cache = cache
        self.db = database
        r = _redis_of(cache, "lease")
        self.lease_get = r.register_script(LEASE_GET_LUA)
        self.lease_set = r.register_script(LEASE_SET_LUA)
        self.refused = 0
        self.no_lease = 0

    def check_option(self, name: str, value: Any) -> None:
        if name == "lease_ttl" and not value > 0:
            raise UsageError(f"lease: lease_ttl must be > 0 seconds, got {value!r}")

    def get(self, key: Any) -> Gen:
        hit, payload = yield from self.lease_get(keys=[key, lease_key(key), LEASE_COUNTER],
                                                 args=[_ms(self.lease_ttl)])
        if hit:
            return payload
        value = yield from self.db.get(key)
        if payload is None:
            self.no_lease += 1
        elif value is not None:
            ok = yield from self.lease_set(keys=[key, lease_key(key)], args=[payload, value, _ms(self.ttl)])
            if not ok:
                self.refused += 1
        return value

    def set(self, key: Any, value: Any) -> Gen:
        yield from self.db.set(key, value)
        yield from self.cache.delete(key, lease_key(key))


class BusInvalidated:
    """Cache-aside reads; a write commits, then publishes ``'user_updated'``; the seed's EventBasedCache deletes.

    Args:
        cache: the seed's cache object.
        database: the database client.
        event_bus: this app's :class:`BusEndpoint`.
    """

    ttl: float = 3600

    def __init__(self, cache: SeedCache, database: Any, event_bus: BusEndpoint) -> None:
        self.cache = cache
        self.db = database
        self.event_bus = event_bus
        self.invalidator = EventBasedCache(cache, event_bus)

    get = CacheAside.get

    def set(self, key: Any, value: Any) -> Gen:
        yield from self.db.set(key, value)
        self.event_bus.publish('data_changed', Event('user_updated', user_id_of(key)))


for _name, _cls in (("cache-aside-double-delete", DoubleDelete), ("cache-aside-versioned", VersionedSet),
                    ("cache-aside-lease", Leases)):
    register_strategy(_name)(_cls)


# ========================================================== penetration
#: what negative caching stores for a key the database does not have
NEGATIVE = b"\x00absent"


class SparseDatabaseClient(DatabaseClient):
    """A database client for a database that lacks some keys: ``get`` answers None for them (the read still runs).

    The core's database has every key (version 0 before its first write);
    here keys for which ``absent(key)`` is true are rows that do not exist.

    Args:
        absent: which keys the database does not have.
        (other arguments: see :class:`~simcache.sim.database.DatabaseClient`)
    """

    def __init__(self, world: World, host: Any, db: Any, absent: Callable[[Any], bool],
                 timeout: float | None = None) -> None:
        super().__init__(world, host, db, timeout)
        self.absent = absent

    def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
        """The key's latest value, or None when the row does not exist."""
        value = yield from DatabaseClient.get(self, key)
        if self.absent(key):
            self.world.recorder.count("penetration", "absent_db_reads", self.world.now)
            return None
        return value


class BloomFilter:
    """A Bloom filter of ``bits`` bits and ``hashes`` hash functions (double hashing over BLAKE2b).

    Args:
        bits: filter size in bits (>= 8).
        hashes: hash functions (>= 1).
    """

    def __init__(self, bits: int, hashes: int) -> None:
        if int(bits) != bits or bits < 8:
            raise UsageError(f"bloom filter: bits must be an integer >= 8, got {bits!r}")
        if int(hashes) != hashes or hashes < 1:
            raise UsageError(f"bloom filter: hashes must be an integer >= 1, got {hashes!r}")
        self.m = int(bits)
        self.k = int(hashes)
        self.bits = bytearray((self.m + 7) // 8)
        self.n = 0

    @classmethod
    def for_keys(cls, keys: Iterable[Any], bits_per_key: float, hashes: int = 0) -> BloomFilter:
        """A filter holding ``keys``, ``bits_per_key`` bits each, ``hashes`` hash functions (0: the best, m/n ln 2)."""
        ks = list(keys)
        m = max(8, math.ceil(bits_per_key * max(len(ks), 1)))
        k = hashes or max(1, round(m / max(len(ks), 1) * math.log(2)))
        f = cls(m, k)
        for key in ks:
            f.add(key)
        return f

    def _positions(self, key: Any) -> list[int]:
        d = hashlib.blake2b(str(key).encode(), digest_size=16).digest()
        h1 = int.from_bytes(d[:8], "little")
        h2 = int.from_bytes(d[8:], "little") | 1
        return [(h1 + i * h2) % self.m for i in range(self.k)]

    def add(self, key: Any) -> None:
        """Add a key."""
        for p in self._positions(key):
            self.bits[p >> 3] |= 1 << (p & 7)
        self.n += 1

    def might_contain(self, key: Any) -> bool:
        """False: the key was never added; True: it probably was."""
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    def false_positive_rate(self) -> float:
        """The expected false-positive rate with the keys added so far."""
        return bloom_false_positive_rate(self.n, self.m, self.k)


def bloom_false_positive_rate(n: int, bits: int, hashes: int) -> float:
    """Expected false-positive rate of a Bloom filter: ``(1 - exp(-k n / m)) ** k``."""
    return float((1.0 - math.exp(-hashes * n / bits)) ** hashes)


class PenetrationGuard:
    """A strategy's read path with cache penetration handled: ``mode`` = ``"none"``, ``"cache"`` or ``"bloom"``.

    * ``"cache"`` — negative caching: when the database has no row, store
      :data:`NEGATIVE` for ``negative_ttl`` seconds and answer None from it.
    * ``"bloom"`` — a Bloom filter of the keys that exist, in the app's
      memory, in front of everything: a key it rules out is answered None
      without a cache or database call.

    Args:
        inner: the strategy (``get`` / ``set``).
        cache: the cache the negative entries go to.
        mode: the defence.
        negative_ttl: seconds a negative entry lives.
        bloom: the filter (mode ``"bloom"``).
    """

    def __init__(self, inner: Any, cache: Any, mode: str = "none", negative_ttl: float = 5.0,
                 bloom: BloomFilter | None = None) -> None:
        if mode not in ("none", "cache", "bloom"):
            raise UsageError(f"penetration guard: mode must be none, cache or bloom, got {mode!r}")
        if mode == "bloom" and bloom is None:
            raise UsageError("penetration guard: mode bloom needs a BloomFilter")
        if not negative_ttl > 0:
            raise UsageError(f"penetration guard: negative_ttl must be > 0 seconds, got {negative_ttl!r}")
        self.inner = inner
        self.cache = cache
        self.mode = mode
        self.negative_ttl = float(negative_ttl)
        self.bloom = bloom
        self.filtered = 0

    def get(self, key: Any) -> Gen:
        if self.mode == "bloom":
            assert self.bloom is not None
            if not self.bloom.might_contain(key):
                self.filtered += 1
                return None
        value = yield from self.inner.get(key)
        if value == NEGATIVE:
            return None
        if value is None and self.mode == "cache":
            yield from self.cache.set(key, NEGATIVE, ttl=self.negative_ttl)
        return value

    def set(self, key: Any, value: Any) -> Gen:
        return (yield from self.inner.set(key, value))

    def on_crash(self) -> Any:
        hook = getattr(self.inner, "on_crash", None)
        return hook() if hook is not None else None


def negative_cache_factor(rate_per_key: float, negative_ttl: float, fill_time: float = 0.0) -> float:
    """By how much negative caching divides the database reads of one absent key.

    Reads of the key arrive as a Poisson process of rate r.  Without negative
    caching each one reaches the database.  With it, a cycle is: a miss, its
    fill landing ``fill_time`` later (reads arriving meanwhile miss too:
    ``r * fill_time`` more on average), the negative entry living
    ``negative_ttl`` = τ, then a wait Exp(r) for the next read.  So the
    database sees ``(1 + r a) / (1/r + a + τ)`` reads per second instead of r:

        factor = (1 + r a + r τ) / (1 + r a)  ≈  1 + r τ  (a ≪ τ).
    """
    r, a, tau = rate_per_key, fill_time, negative_ttl
    return (1.0 + r * a + r * tau) / (1.0 + r * a)


# ============================================================ measurement
class _Copy:
    """What the cache holds for one key since ``start``: write ``wid``, until ``expire_at`` (seconds).

    ``kind``: "" (set fresh), "fill" (set already superseded, before the cache had been made clean since),
    "set" (a stale set: set already superseded, after the cache had been made clean since).
    """

    __slots__ = ("wid", "start", "expire_at", "kind")

    def __init__(self, wid: int, start: float, expire_at: float, kind: str) -> None:
        self.wid = wid
        self.start = start
        self.expire_at = expire_at
        self.kind = kind


class StalenessAudit:
    """Follows what the cache holds for each tracked key and measures how long it is older than the database.

    The cache is *clean* for a key when it holds nothing or the latest
    committed version.  A copy set already superseded is a **stale fill**;
    it is a **stale set** when the cache had been made clean after the
    superseding commit and before the copy landed — by the write's own
    invalidation (a DEL, an update, a bus event), by a fresh fill, or by an
    expiry — so nothing on the write path will remove it: it stays until its
    TTL, a later write, or a repair (a second delete).  A stale set removed
    by a command before any later commit counts as ``stale_sets_repaired``.

    Args:
        world: the simulation world (its oracle holds the commits, its recorder gets the counts).
        server: the audited Redis server.
        keys: the key names to follow (as the database and the clients name them).
        name: the recorder component the counts go to.

    Recorder counts (component ``name``): ``stale_fills``, ``stale_sets``,
    ``stale_sets_repaired`` (at the time the copy was set), and
    ``stale_key_seconds`` / ``cached_key_seconds`` split over the windows
    they span.  Nothing before the recorder's warmup counts.
    """

    def __init__(self, world: World, server: RedisServer, keys: Iterable[Any], name: str = "audit") -> None:
        self.world = world
        self.server = server
        self.name = name
        self.names: dict[bytes, Any] = {str(k).encode(): k for k in keys}
        self.copies: dict[bytes, _Copy] = {}
        #: key -> the last time the cache became clean for it (nothing held, or the latest version)
        self.clean_at: dict[bytes, float] = {}
        self.n_keys = len(self.names)
        #: durations of stale episodes (a copy from the commit that superseded it until it left the cache)
        self.episodes = LogHistogram(0.01, min_value=1e-6, max_value=1e6)
        self.stale_time = 0.0
        self.cached_time = 0.0
        self.finished = False

    @property
    def tracked(self) -> dict[bytes, Any]:
        """Tracked keys as the server holds them (bytes) -> their names."""
        return self.names

    # ------------------------------------------------------------ events
    def _expire_at(self, kb: bytes) -> float:
        when = self.server.expires.get(kb)
        if when is None:
            return math.inf
        # Redis reads a key as expired once mstime() > when: from the start of the next millisecond
        return (when - round(self.server.unix_start * 1000) + 1) / 1000.0

    def refresh(self, kb: bytes, reason: str = "command") -> None:
        """A command may have changed key ``kb``: compare what it holds now with what it held."""
        now = self.world.now
        obj = self.server.data.get(kb)
        exp = self._expire_at(kb) if obj is not None else math.inf
        wid = obj.value.wid if obj is not None and isinstance(obj.value, Value) and exp > now else None
        cur = self.copies.get(kb)
        if cur is not None and cur.expire_at <= now:
            self._close(kb, cur, cur.expire_at, "expired")
            self.clean_at[kb] = cur.expire_at
            cur = None
        if cur is not None and wid == cur.wid:
            cur.expire_at = exp  # the same copy, set again or given a new TTL
            if not cur.kind and self.world.oracle.judge(self.names[kb], wid, now, now).kind != STALE:
                self.clean_at[kb] = now
            return
        if cur is not None:
            self._close(kb, cur, now, reason)
        if wid is None:
            self.copies.pop(kb, None)
            self.clean_at[kb] = now
            return
        v = self.world.oracle.judge(self.names[kb], wid, now, now)
        if v.kind == STALE:
            kind = "set" if self.clean_at.get(kb, -math.inf) > now - v.age else "fill"
        elif v.kind == DIRTY:
            kind = "set"
        else:
            kind = ""
            self.clean_at[kb] = now
        self.copies[kb] = _Copy(wid, now, exp, kind)

    def refresh_all(self, reason: str = "command") -> None:
        """Every tracked key may have changed (a flush, a cold restart)."""
        for kb in list(self.copies):
            self.refresh(kb, reason)

    def _close(self, kb: bytes, c: _Copy, end: float, reason: str) -> None:
        key = self.names[kb]
        oracle = self.world.oracle
        rec = self.world.recorder
        end = min(end, c.expire_at)
        self._span("cached_key_seconds", c.start, end)
        v = oracle.judge(key, c.wid, end, end)
        if v.kind == STALE:
            since = max(c.start, end - v.age)
        elif v.kind == DIRTY:
            since = c.start
        else:
            since = end
        if end > since:
            self._span("stale_key_seconds", since, end)
            if since >= rec.warmup:
                self.episodes.add([end - since])
        if c.kind:
            rec.count(self.name, "stale_fills", c.start)
        if c.kind == "set":
            rec.count(self.name, "stale_sets", c.start)
            if reason == "command" and oracle.version_at(key, end) == oracle.version_at(key, c.start):
                rec.count(self.name, "stale_sets_repaired", c.start)

    def _span(self, metric: str, a: float, b: float) -> None:
        """Add the seconds of [a, b) after the warmup to ``metric``, split over the recorder's windows."""
        rec = self.world.recorder
        a = max(a, rec.warmup)
        if b <= a:
            return
        if metric == "stale_key_seconds":
            self.stale_time += b - a
        else:
            self.cached_time += b - a
        w = rec.window
        t = a
        while t < b:
            edge = min(b, (math.floor(t / w + 1e-9) + 1) * w)
            rec.count(self.name, metric, t, edge - t)
            t = edge

    def finish(self, t: float) -> None:
        """Close every copy at the end of the run (time ``t``)."""
        if self.finished:
            return
        self.finished = True
        for kb, c in list(self.copies.items()):
            self._close(kb, c, min(t, c.expire_at), "expired" if c.expire_at <= t else "end")
        self.copies.clear()

    # ------------------------------------------------------------- results
    def summary(self, duration: float, writes: int) -> dict[str, Any]:
        """The audit's numbers over the measured span; ``writes`` committed writes divide the stale sets."""
        rec = self.world.recorder
        span = max(duration - rec.warmup, 1e-12)
        sets = int(rec.total(self.name, "stale_sets"))
        ep = self.episodes
        out: dict[str, Any] = {
            "stale_sets": sets,
            "stale_sets_per_write": sets / writes if writes else 0.0,
            "stale_fills": int(rec.total(self.name, "stale_fills")),
            "stale_sets_repaired": int(rec.total(self.name, "stale_sets_repaired")),
            "stale_time_fraction": self.stale_time / (self.n_keys * span) if self.n_keys else 0.0,
            "cached_time_fraction": self.cached_time / (self.n_keys * span) if self.n_keys else 0.0,
            "stale_cached_fraction": self.stale_time / self.cached_time if self.cached_time else 0.0,
        }
        out["stale_episode_ms"] = ({"count": ep.total, "mean": ep.mean() * 1000,
                                    **{f"p{round(q * 100)}": ep.quantile(q) * 1000 for q in (0.5, 0.9, 0.99)},
                                    "max": ep.max * 1000} if ep.total else {"count": 0})
        return out


class AuditedRedisServer(RedisServer):
    """A :class:`~simcache.sim.redis.RedisServer` that tells a :class:`StalenessAudit` what its writes changed.

    After every write command it runs (scripts' commands included), the
    tracked keys named in its arguments are re-read by the audit.  Not seen:
    evictions (run it without ``maxmemory``).  Arguments: as RedisServer's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.audit: StalenessAudit | None = None
        super().__init__(*args, **kwargs)

    def call(self, spec: Spec, argv: tuple[Any, ...]) -> Any:
        reply = super().call(spec, argv)
        audit = self.audit
        if audit is not None and "write" in spec.flags:
            tracked = audit.names
            for a in argv[spec.skip:]:
                if a.__class__ is bytes and a in tracked:
                    audit.refresh(a)
            if spec.upper in ("FLUSHALL", "FLUSHDB"):
                audit.refresh_all()
        return reply

    def reset_state(self) -> None:
        super().reset_state()
        if self.audit is not None:
            self.audit.refresh_all("lost")


# ============================================================== estimate
def stale_set_estimate(read_rate: float, write_rate: float, window: float, fill_time: float) -> float:
    """Stale sets per write of cache-aside with delete-on-write, for one key (first order in ``r a``).

    Args:
        read_rate: reads of the key per second (Poisson), r.
        write_rate: writes of the key per second (Poisson), w.
        window: how much longer a miss takes from its database read to its SET landing than a write takes
            from its commit to its DEL landing: ``W = (S_r + l_db + l_cache) - (S_w + l_db + l_cache)``, with
            ``S_r``, ``S_w`` the database's read and write service times (both take effect as service starts).
        fill_time: from a miss's GET landing to its SET landing, ``a``.

    Derivation.  A miss reads version v at time ρ.  A write committing at
    ``c = ρ + u`` has its DEL land before the miss's SET iff ``0 < u < W``;
    then the SET caches v after the DEL made the cache clean: a stale set.
    Reads whose GET lands while the fill is in flight (within ``a`` of the
    first miss's, at rate r) miss too and read at ``ρ + x``, each opening its
    own window ``(ρ + x, ρ + x + W)``; a stale set needs the commit in the
    union, of expected length ``L = W + r ∫_0^a min(x, W) dx`` to first order
    in ``r a``.  Writes are Poisson, so per miss cycle

        P = 1 - exp(-w L).

    Cycles per write: the key alternates between cached (until the next
    write's DEL, Exp(w)) and absent (until the next read, Exp(r), plus the
    fill time a), so there are ``1 / (1/w + 1/r + a)`` cycles per second and

        stale sets per write = P / (1 + w/r + w a).

    Left out: two writes in one fill (order ``w (W + a)``) and TTL expiry (TTL ≫ 1/w).
    """
    r, w, W, a = read_rate, write_rate, window, fill_time
    if W <= 0 or w <= 0 or r <= 0:
        return 0.0
    spread = a * a / 2 if a <= W else W * W / 2 + (a - W) * W
    p = -math.expm1(-w * (W + r * spread))
    return p / (1.0 + w / r + w * a)


def stale_set_estimate_mc(read_rate: float, write_rate: float, db_read: Dist | str, db_write: Dist | str,
                          db_latency: Dist | str, cache_latency: Dist | str, cache_service: Dist | str,
                          samples: int = 20_000, seed: int = 0) -> float:
    """:func:`stale_set_estimate` averaged over random service times and latencies (Monte Carlo, fixed seed).

    The window and fill time of each sample are built from independent draws of the read's and the write's
    database service times and of the links they cross (cache-side service included).
    """
    rng = np.random.default_rng(seed)
    n = samples
    ld, lc, sc = Dist.parse(db_latency), Dist.parse(cache_latency), Dist.parse(cache_service)
    to_set = Dist.parse(db_read).draw(rng, n) + ld.draw(rng, n) + lc.draw(rng, n)
    to_del = Dist.parse(db_write).draw(rng, n) + ld.draw(rng, n) + lc.draw(rng, n)
    fill = sc.draw(rng, n) + lc.draw(rng, n) + ld.draw(rng, n) + to_set
    window = to_set - to_del
    r, w = read_rate, write_rate
    if w <= 0 or r <= 0:
        return 0.0
    W = np.maximum(window, 0.0)
    spread = np.where(fill <= W, fill * fill / 2, W * W / 2 + (fill - W) * W)
    p = np.where(window > 0, -np.expm1(-w * (W + r * spread)), 0.0)
    return float(np.mean(p / (1.0 + w / r + w * fill)))


# ================================================================ figures
def consistency_figures(results: Mapping[str, SimResult], out_dir: str | Path) -> list[Path]:
    """Write the consistency figures for runs keyed by invalidation mode; return their paths.

    ``stale_over_time.png``: per window, the share of reads that were stale
    and the share of keys whose cached copy was stale; ``invalidation_comparison.png``:
    stale sets per write, stale read ratio and stale time fraction per mode.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for mode, res in results.items():
        ts = res.timeseries
        if ts is None or ts.empty:
            continue
        stale = ts[(ts.component == "client") & (ts.metric == "stale_reads")].groupby("time").value.sum()
        served = ts[ts.metric == "reads_served"].groupby("time").value.sum()
        ratio = (stale.reindex(served.index, fill_value=0.0) / served).fillna(0.0)
        axes[0].plot(ratio.index, ratio.values, label=mode)
        keys = max(int(res.summary.get("keys", 1)), 1)
        window = float(res.summary.get("window", 1.0))
        sk = ts[(ts.component == "audit") & (ts.metric == "stale_key_seconds")].groupby("time").value.sum()
        axes[1].plot(sk.index, sk.values / (keys * window), label=mode)
    axes[0].set_xlabel("simulated time (s)")
    axes[0].set_ylabel("stale reads / reads")
    axes[0].set_title("Stale reads per window")
    axes[1].set_xlabel("simulated time (s)")
    axes[1].set_ylabel("share of key-time stale in the cache")
    axes[1].set_title("Stale cached copies per window")
    for ax in axes:
        ax.set_yscale("symlog", linthresh=1e-3)  # the modes differ by orders of magnitude
        ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / "stale_over_time.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    modes = list(results)
    for ax, metric in zip(axes, ("stale_sets_per_write", "stale_read_ratio", "stale_time_fraction"), strict=True):
        ax.bar(modes, [float(results[m].summary.get(metric, 0.0)) for m in modes], color="tab:red")
        ax.set_title(metric)
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    p = out / "invalidation_comparison.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths
