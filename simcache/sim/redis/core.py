"""The simulated Redis's engine: command table with arity and flags, the keyspace, memory, expiry and eviction.

:class:`RedisCore` is the part of the server every command group builds on
(the groups are subclasses in :mod:`~simcache.sim.redis.strings`,
:mod:`~simcache.sim.redis.lists`, ... joined by
:class:`~simcache.sim.redis.server.RedisServer`).  It follows Redis 7.0:

* **processCommand** (``server.c``): look the command up (``unknown
  command ...``, container subcommands such as ``CONFIG GET``), check its
  arity, run ``performEvictions`` when ``maxmemory`` is set and refuse a
  ``denyoom`` command with the OOM error when nothing more can be evicted,
  refuse what a subscribed (RESP2) connection may not run, queue inside
  MULTI, else ``call()`` it; clients blocked on keys made ready by the
  command are served right after it (``handleClientsBlockedOnKeys``).
* **The keyspace** (``db.c``): ``lookupKeyRead`` counts ``keyspace_hits``
  / ``keyspace_misses``, both lookups expire a key whose time has passed
  (``now > when``, in milliseconds) and touch it for the LRU/LFU clock
  (except ``NOTOUCH`` lookups: EXISTS, TYPE, TTL); ``setKey`` clears the
  expiry unless ``KEEPTTL``.
* **Active expiry** (``expire.c`` ``activeExpireCycle``): ``hz`` times a
  second a slow cycle samples 20 keys with an expiry per loop and loops
  while more than 10% of a sample had expired, within 25% of the cron
  period; a fast cycle (1 ms) runs before the event loop sleeps when the
  last slow cycle ran out of time or the estimated stale share is high.
  Redis walks its expires hash table from a cursor; the model walks a
  uniformly shuffled array of those keys from a cursor, and charges
  :attr:`RedisCore.expire_key_cost` seconds of the time budget per key it looks at
  (the cycle's CPU time is not taken from the event loop).
* **Memory and eviction** (``evict.c``): ``used_memory`` is the sum over
  keys of key bytes + value bytes + per-element overheads +
  :data:`KEY_OVERHEAD` (an estimate; a real server also counts its own
  buffers and allocator overhead).  With a Redis policy
  (``allkeys-lru``...), memory may overshoot ``maxmemory`` during a command
  and the next command first evicts until it is back under the limit, as
  Redis does; victims come from :mod:`simcache.policies.redis`.  Any other
  simcache policy name is an exact model that keeps the keyspace within
  ``maxmemory`` on every write (its own admission and eviction) and never
  answers OOM.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import simpy

from simcache.errors import UsageError
from simcache.policies.base import Policy, make_policy, policy_names
from simcache.policies.redis import RedisPolicy
from simcache.sim.dists import Dist
from simcache.sim.redis.proto import EXECABORT, OOM, WRONGTYPE, as_bytes, upper_name
from simcache.sim.rpc import Call, ReplyError, ResponseError
from simcache.sim.server import Deferred, Handler, Queueing, Server, command, size_of
from simcache.sim.world import World

#: bytes charged per key on top of its key and value (dictEntry + robj + sds headers, 64-bit build)
KEY_OVERHEAD = 56
#: bytes charged per element of a hash, list, set or sorted set (listpack / dict entry headers, an estimate)
ELEMENT_OVERHEAD = 16
#: Redis's maxmemory-policy names -> simcache's policy models of them
MAXMEMORY_POLICIES = {
    "volatile-lru": "redis-volatile-lru",
    "volatile-lfu": "redis-volatile-lfu",
    "volatile-random": "redis-volatile-random",
    "volatile-ttl": "redis-volatile-ttl",
    "allkeys-lru": "redis-allkeys-lru",
    "allkeys-lfu": "redis-allkeys-lfu",
    "allkeys-random": "redis-allkeys-random",
    "noeviction": "redis-noeviction",
}
#: no key-space limit: a policy's capacity when nothing should make it evict on its own
UNLIMITED = 1 << 62
#: ACTIVE_EXPIRE_CYCLE_* (server.h / expire.c, at the default active-expire-effort 1)
KEYS_PER_LOOP = 20
ACCEPTABLE_STALE = 10
SLOW_TIME_PERC = 25
FAST_DURATION_US = 1000
#: commands a subscribed RESP2 connection may still run (server.c processCommand)
PUBSUB_ALLOWED = frozenset({"PING", "SUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "SUNSUBSCRIBE", "PSUBSCRIBE",
                            "PUNSUBSCRIBE", "QUIT", "RESET"})
#: commands that run at once inside MULTI instead of being queued
NOT_QUEUED = frozenset({"EXEC", "DISCARD", "MULTI", "WATCH", "QUIT", "RESET"})
#: container commands and their own arity (commands.def); their subcommands are "NAME|SUB" in the table
CONTAINERS = {"CONFIG": -2, "SCRIPT": -2, "PUBSUB": -2}


class Spec:
    """A command's table entry: its full name, arity (negative: at least) and flags (``commands.def``)."""

    __slots__ = ("name", "upper", "arity", "flags", "handler", "skip")

    def __init__(self, name: str, arity: int, flags: frozenset[str], handler: Handler) -> None:
        self.name = name
        self.upper = name.upper()
        self.arity = arity
        self.flags = flags
        self.handler = handler
        #: leading arguments that name the command (2 for a subcommand such as CONFIG GET)
        self.skip = 1 + name.count("|")

    def __repr__(self) -> str:
        return f"<Spec {self.name} arity={self.arity} {' '.join(sorted(self.flags))}>"


def redis_command(name: str, arity: int, flags: str = "") -> Callable[[Handler], Handler]:
    """Declare a handler: ``name`` (``"CONFIG|GET"`` for a subcommand), its arity counting the name, its flags.

    Flags are Redis's lower-case names: ``write``, ``readonly``, ``denyoom``, ``noscript``,
    ``blocking``, ``pubsub``, ``fast``, ...
    """

    def deco(fn: Handler) -> Handler:
        fn._redis_spec = (arity, frozenset(flags.split()))  # type: ignore[attr-defined]
        return command(name)(fn)

    return deco


class RObj:
    """One key's value: its type (``string``, ``hash``, ``list``, ``set``, ``zset``), payload and bytes charged."""

    __slots__ = ("type", "value", "size")

    def __init__(self, type_: str, value: Any, size: int) -> None:
        self.type = type_
        self.value = value
        self.size = size

    def __repr__(self) -> str:
        return f"RObj({self.type}, {self.size}B)"


def value_bytes(v: Any) -> int:
    """Bytes a string value takes (a simulation Value counts its ``size``)."""
    if isinstance(v, bytes | bytearray):
        return len(v)
    return int(getattr(v, "size", 0) or 0)


class ExpireIndex:
    """Keys with an expiry: ``key -> unix ms``, plus a shuffled array walked from a cursor by active expiry.

    A new key goes to a uniformly random slot of the array (inside-out Fisher-Yates), a removed
    key's slot takes the last key, so the array stays a random order of the keys, as the
    expires hash table's buckets are.
    """

    def __init__(self, rnd: random.Random) -> None:
        self.when: dict[Any, int] = {}
        self._keys: list[Any] = []
        self._pos: dict[Any, int] = {}
        self._rnd = rnd
        self.cursor = 0

    def __len__(self) -> int:
        return len(self.when)

    def __contains__(self, key: object) -> bool:
        return key in self.when

    def get(self, key: Any) -> int | None:
        """The key's expiry (unix ms), or None."""
        return self.when.get(key)

    def set(self, key: Any, when: int) -> None:
        """Set a key's expiry."""
        if key not in self.when:
            keys = self._keys
            n = len(keys)
            j = self._rnd.randrange(n + 1)
            keys.append(key)
            self._pos[key] = n
            if j < n:
                other = keys[j]
                keys[j], keys[n] = key, other
                self._pos[key], self._pos[other] = j, n
        self.when[key] = when

    def pop(self, key: Any) -> int | None:
        """Remove a key's expiry; the old one, or None."""
        when = self.when.pop(key, None)
        if when is None:
            return None
        i = self._pos.pop(key)
        last = self._keys.pop()
        if i < len(self._keys):
            self._keys[i] = last
            self._pos[last] = i
        return when

    def clear(self) -> None:
        """Forget every expiry."""
        self.when.clear()
        self._keys.clear()
        self._pos.clear()
        self.cursor = 0

    def scan(self, n: int) -> list[Any]:
        """Up to ``n`` keys from the cursor on (wrapping round); the cursor moves past them."""
        keys = self._keys
        size = len(keys)
        if size == 0:
            return []
        n = min(n, size)
        start = self.cursor % size
        out = keys[start:start + n]
        if len(out) < n:
            out += keys[:n - len(out)]
        self.cursor = start + n
        return out


class ClientState:
    """What the server keeps per connection: the MULTI queue, subscriptions, where pushes go."""

    __slots__ = ("conn", "node", "multi", "multi_flags", "dirty_exec", "channels", "patterns", "push_due",
                 "blocked", "created", "woff")

    def __init__(self, conn: Any, node: str, now: float) -> None:
        self.conn = conn
        self.node = node
        self.multi: list[tuple[Spec, tuple[Any, ...]]] | None = None
        self.multi_flags: set[str] = set()
        self.dirty_exec = False
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        #: arrival time of the last message pushed to this connection (pushes keep their order, as on TCP)
        self.push_due = 0.0
        self.blocked: Any = None
        self.created = now
        #: replication offset right after this client's last propagated write (``c->woff``, read by WAIT)
        self.woff = 0

    @property
    def subscriptions(self) -> int:
        """Channels plus patterns subscribed (``clientSubscriptionsCount``)."""
        return len(self.channels) + len(self.patterns)


class BlockRequest:
    """What a blocking handler returns when the caller must wait: the keys, the pop side, the deadline."""

    __slots__ = ("keys", "where", "deadline")

    def __init__(self, keys: tuple[Any, ...], where: str, deadline: int) -> None:
        self.keys = keys
        self.where = where
        #: unix ms after which the wait times out (0: never)
        self.deadline = deadline


class Blocked:
    """A client blocked on keys (``c->bpop``): where its answer goes and when it gives up."""

    __slots__ = ("st", "keys", "where", "deadline", "resume", "deferred", "done")

    def __init__(self, st: ClientState, req: BlockRequest, resume: Callable[[Any], None], deferred: Deferred) -> None:
        self.st = st
        self.keys = req.keys
        self.where = req.where
        self.deadline = req.deadline
        self.resume = resume
        self.deferred = deferred
        self.done = False

    @property
    def ready(self) -> bool:
        """Whether its answer can leave now: the blocking command's own service is over."""
        return self.deferred.server is not None


class RedisCore(Server):
    """The engine of a simulated Redis instance (see the module docstring); commands live in subclasses.

    Args:
        world: the simulation world.
        name: component name (also the node unless ``node`` is given).
        node: network node.
        service: service time of one command on the event loop.
        maxmemory: bytes (0: no limit), as ``maxmemory``.
        maxmemory_policy: a Redis policy name (``allkeys-lru``...) or any simcache policy name (an exact model).
        maxmemory_samples: keys sampled per eviction (``maxmemory-samples``).
        io_threads: Redis 6+ I/O threads (1: off); see :meth:`service_time`.
        active_expiry: run the active expiry cycles.
        hz: server cron frequency (``hz``): active expiry, blocked-client timeouts, ops/sec samples.
        unix_start: the Unix time (seconds) that simulated time 0 stands for (EXAT, PXAT, TIME read it).
        expire_key_cost: seconds of active-expiry time budget one examined key costs.
        baseline_memory: bytes ``used_memory`` counts before any key (a real server's ``used_memory_startup``,
            about 860 KB for Redis 7.0; 0 leaves all of ``maxmemory`` to keys).
        queueing: ``"fast"`` or ``"events"``.
    """

    GAUGES: tuple[str, ...] = ("up", "queued", "busy_workers", "keys", "used_memory", "connected_clients",
                               "blocked_clients")
    #: cluster mode (``cluster-enabled yes``): :meth:`process` asks :meth:`cluster_redirect` first
    cluster_enabled: ClassVar[bool] = False
    #: full command name -> its table entry, built from the handlers' :func:`redis_command` declarations
    SPECS: ClassVar[dict[str, Spec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the command groups are sibling subclasses: merge every base's table (the class's own entries win)
        table: dict[Any, Handler] = {}
        specs: dict[str, Spec] = {}
        for klass in reversed(cls.__mro__):
            table.update(klass.__dict__.get("COMMANDS", {}))
            specs.update(klass.__dict__.get("SPECS", {}))
        for attr in vars(cls).values():
            spec = getattr(attr, "_redis_spec", None)
            if spec is None:
                continue
            for n in getattr(attr, "_commands", ()):
                specs[n] = Spec(n.lower(), spec[0], spec[1], attr)
        cls.COMMANDS = table
        cls.SPECS = specs

    def __init__(self, world: World, name: str = "redis", node: str | None = None,
                 service: Dist | str | float = "exp:0.0001", *, maxmemory: int = 0,
                 maxmemory_policy: str = "noeviction", maxmemory_samples: int = 5, io_threads: int = 1,
                 active_expiry: bool = True, hz: int = 10, unix_start: float = 0.0,
                 expire_key_cost: float = 1e-6, baseline_memory: int = 0, queueing: Queueing = "fast") -> None:
        super().__init__(world, name, node, service, 1, queueing)
        if int(maxmemory) != maxmemory or maxmemory < 0:
            raise UsageError(f"{name}: maxmemory must be an integer >= 0 bytes, got {maxmemory!r}")
        if int(maxmemory_samples) != maxmemory_samples or maxmemory_samples < 1:
            raise UsageError(f"{name}: maxmemory_samples must be an integer >= 1, got {maxmemory_samples!r}")
        if int(io_threads) != io_threads or io_threads < 1:
            raise UsageError(f"{name}: io_threads must be an integer >= 1, got {io_threads!r}")
        if int(hz) != hz or not 1 <= hz <= 500:
            raise UsageError(f"{name}: hz must be an integer in [1, 500], got {hz!r}")
        if int(baseline_memory) != baseline_memory or baseline_memory < 0:
            raise UsageError(f"{name}: baseline_memory must be an integer >= 0 bytes, got {baseline_memory!r}")
        self.baseline_memory = int(baseline_memory)
        if not expire_key_cost > 0:
            raise UsageError(f"{name}: expire_key_cost must be > 0 seconds, got {expire_key_cost!r}")
        self.io_threads = int(io_threads)
        self.hz = int(hz)
        self.unix_start = float(unix_start)
        self._unix_start_ms = int(round(self.unix_start * 1000))
        self._ms_at = -1.0
        self._ms = 0
        self.expire_key_cost = float(expire_key_cost)
        self._policy_rng = world.rng(f"{name}:eviction")
        self._expire_rnd = random.Random(int(world.rng(f"{name}:expire").integers(2**63)))
        self.maxmemory = int(maxmemory)
        self.maxmemory_samples = int(maxmemory_samples)
        self.maxmemory_policy = ""
        self.data: dict[Any, RObj] = {}
        self.expires = ExpireIndex(self._expire_rnd)
        self.stats: dict[str, int] = {
            "total_connections_received": 0, "total_commands_processed": 0, "expired_keys": 0,
            "expired_time_cap_reached_count": 0, "evicted_keys": 0, "keyspace_hits": 0, "keyspace_misses": 0,
            "total_error_replies": 0, "rejected_calls": 0, "rejected_oom": 0}
        self.expired_stale_perc = 0.0
        self.avg_ttl = 0
        self.clients: dict[Any, ClientState] = {}
        # blocking: key -> clients blocked on it (first blocked first), keys a command made ready, deadlines
        self.blocking_keys: dict[Any, deque[Any]] = {}
        self.ready_keys: dict[Any, None] = {}
        self.blocked_clients: dict[Blocked, None] = {}
        self._block_heap: list[tuple[int, int, Blocked]] = []
        self._block_seq = 0
        # pub/sub: channel or pattern -> subscribed connections, in subscription order
        self.pubsub_channels: dict[bytes, dict[ClientState, None]] = {}
        self.pubsub_patterns: dict[bytes, dict[ClientState, None]] = {}
        #: sha1 hex -> (Python equivalent, body): scripts this instance has loaded (lost on restart)
        self.scripts: dict[str, tuple[Callable[..., Any], bytes]] = {}
        self.in_exec = False
        self.in_script = False
        self.pre_command_oom = False
        #: ``server.dirty``: keyspace changes so far (one per key changed by a mutator below, not per element)
        self.dirty = 0
        #: the highest ``used_memory`` seen at the end of a command
        self.used_memory_peak = self.baseline_memory
        self._by_raw_name: dict[Any, Spec] = {}
        self._accessed: dict[Any, None] = {}
        self._timelimit_exit = False
        self._last_fast_cycle = -math.inf
        self._ops_samples: deque[float] = deque(maxlen=16)
        self._ops_last = (self.env.now, 0)
        self.policy: Policy = self._make_policy(maxmemory_policy)
        self.active_expiry = bool(active_expiry)
        self.env.process(self._cron())
        self.watch()

    # --------------------------------------------------------------- clock
    def mstime(self) -> int:
        """Redis's ``mstime()``: Unix milliseconds now (whole milliseconds, as Redis's clock reads)."""
        now = self.env.now
        if now == self._ms_at:
            return self._ms
        ms = now * 1000.0
        r = round(ms)
        # 0.3 s is 300 ms, not 299.99999999999994
        t = self._unix_start_ms + (int(r) if abs(ms - r) < 1e-6 else math.floor(ms))
        self._ms_at, self._ms = now, t
        return t

    def unix_now(self) -> float:
        """Unix seconds now (the clock the policies' LRU/LFU/TTL models read)."""
        return self.unix_start + self.env.now

    # -------------------------------------------------------------- policy
    def _make_policy(self, name: str) -> Policy:
        pname = MAXMEMORY_POLICIES.get(name, name)
        if pname not in policy_names():
            valid = ", ".join(list(MAXMEMORY_POLICIES) + [p for p in policy_names() if not p.startswith("redis-")])
            raise UsageError(f"{self.name}: unknown maxmemory-policy {name!r}; valid: {valid}")
        redis_like = pname.startswith("redis-")
        # a Redis policy never evicts on its own (performEvictions asks it for victims before each command);
        # an exact model is held to maxmemory on every write
        cap = UNLIMITED if redis_like or not self.maxmemory else max(1, self.maxmemory - self.baseline_memory)
        params = {"maxmemory_samples": self.maxmemory_samples} if redis_like else {}
        pol = make_policy(pname, cap, rng=self._policy_rng, **params)
        pol.on_evict = self._evicted
        self.policy = pol
        self.maxmemory_policy = name
        now = self.unix_now()
        for key, obj in list(self.data.items()):
            when = self.expires.get(key)
            if not pol.insert(key, self.charge(key, obj), now=now, expire_at=None if when is None else when / 1000):
                self._evicted(key, 0)
        return pol

    @staticmethod
    def charge(key: Any, obj: RObj) -> int:
        """Bytes a key costs in ``used_memory``."""
        return value_bytes(key) + obj.size + KEY_OVERHEAD

    @property
    def used_memory(self) -> int:
        """``used_memory`` (bytes) as of the end of the last command: the keys plus ``baseline_memory``."""
        return self.policy.used + self.baseline_memory

    def _evicted(self, key: Any, size: int) -> None:
        """The policy evicted ``key``: it leaves the keyspace (``evicted_keys``)."""
        if self.data.pop(key, None) is not None:
            self.expires.pop(key)
            self.stats["evicted_keys"] += 1

    def perform_evictions(self) -> bool:
        """``performEvictions``: evict until ``used_memory <= maxmemory``; False when that was not possible."""
        pol = self.policy
        if not self.maxmemory or self.used_memory <= self.maxmemory:
            return True
        if not isinstance(pol, RedisPolicy):
            return True  # an exact model never holds more than its capacity
        if pol.kind == "none":
            return False  # we need to free memory, but the policy forbids it
        # the policy evicts its own victims (on_evict removes them here) until used <= maxmemory, or stops
        # when nothing is eligible; when even an empty keyspace is over the limit, it evicts everything
        # eligible and still fails
        room = self.maxmemory - self.baseline_memory
        ok = pol.evict_to(max(room, 0), now=self.unix_now())
        return ok and room >= 1

    # ------------------------------------------------------------ keyspace
    def key_is_expired(self, key: Any) -> bool:
        """``keyIsExpired``: the key has an expiry and now is past it."""
        when = self.expires.get(key)
        return when is not None and self.mstime() > when

    def expire_if_needed(self, key: Any) -> bool:
        """``expireIfNeeded``: delete the key if it is logically expired; whether it was."""
        if not self.key_is_expired(key):
            return False
        self.delete_expired(key)
        return True

    def delete_expired(self, key: Any) -> None:
        """``deleteExpiredKeyAndPropagate``."""
        self.remove(key)
        self.stats["expired_keys"] += 1

    def lookup(self, key: Any, *, write: bool = False, notouch: bool = False, nostats: bool = False) -> RObj | None:
        """``lookupKey``: the key's object after lazy expiry; read lookups count hits and misses."""
        obj = self.data.get(key)
        if obj is not None and self.expire_if_needed(key):
            obj = None
        if obj is not None:
            if not notouch:
                self._accessed[key] = None
            if not (write or nostats):
                self.stats["keyspace_hits"] += 1
        elif not (write or nostats):
            self.stats["keyspace_misses"] += 1
        return obj

    def lookup_read(self, key: Any, type_: str | None = None, *, notouch: bool = False) -> RObj | None:
        """``lookupKeyRead`` (+ ``checkType`` when ``type_`` is given)."""
        obj = self.lookup(key, notouch=notouch)
        if obj is not None and type_ is not None and obj.type != type_:
            raise ReplyError(WRONGTYPE)
        return obj

    def lookup_write(self, key: Any, type_: str | None = None) -> RObj | None:
        """``lookupKeyWrite`` (+ ``checkType`` when ``type_`` is given)."""
        obj = self.lookup(key, write=True)
        if obj is not None and type_ is not None and obj.type != type_:
            raise ReplyError(WRONGTYPE)
        return obj

    def db_add(self, key: Any, obj: RObj) -> None:
        """``dbAdd``: a new key (its memory is charged at the end of the command)."""
        self.data[key] = obj
        self._accessed[key] = None
        self.dirty += 1
        if key in self.blocking_keys:
            self.ready_keys[key] = None  # signalKeyAsReady

    def set_key(self, key: Any, obj: RObj, *, keepttl: bool = False, exists: bool | None = None) -> None:
        """``setKey``: add or overwrite; the expiry is cleared unless ``keepttl``."""
        if exists is None:
            exists = self.lookup_write(key) is not None
        if exists:
            self.data[key] = obj
            self._accessed[key] = None
            self.dirty += 1
        else:
            self.db_add(key, obj)
        if not keepttl:
            self.remove_expire(key)

    def modified(self, key: Any) -> None:
        """An object changed in place: re-charge its memory at the end of the command."""
        self._accessed[key] = None
        self.dirty += 1

    def remove(self, key: Any) -> bool:
        """``dbDelete``: remove a key and its expiry; whether it existed."""
        if self.data.pop(key, None) is None:
            return False
        self.expires.pop(key)
        self.policy.remove(key)
        self._accessed.pop(key, None)
        self.dirty += 1
        return True

    def get_expire(self, key: Any) -> int:
        """``getExpire``: the key's expiry in unix ms, or -1."""
        when = self.expires.get(key)
        return -1 if when is None else when

    def set_expire(self, key: Any, when: int) -> None:
        """``setExpire``: the key expires after unix ms ``when``."""
        self.expires.set(key, when)
        self.policy.set_expire(key, when / 1000)
        self.dirty += 1

    def remove_expire(self, key: Any) -> bool:
        """``removeExpire``: whether the key had an expiry."""
        if self.expires.pop(key) is None:
            return False
        self.policy.set_expire(key, None)
        self.dirty += 1
        return True

    def flush(self) -> int:
        """``emptyData``: forget every key; how many there were."""
        n = len(self.data)
        self.data.clear()
        self.expires.clear()
        self._accessed.clear()
        self._make_policy(self.maxmemory_policy)
        self.dirty += n
        return n

    def _settle(self) -> None:
        """After a command: charge changed keys' memory and touch them, once each (the policy's view)."""
        acc = self._accessed
        if not acc:
            return
        pol = self.policy
        now = self.unix_now()
        data = self.data
        for key in list(acc):
            obj = data.get(key)
            if obj is None:
                continue
            size = self.charge(key, obj)
            if key in pol:
                pol.lookup(key, size, now=now)
            else:
                when = self.expires.get(key)
                if not pol.insert(key, size, now=now, expire_at=None if when is None else when / 1000):
                    self._evicted(key, size)  # an exact model's admission refused it
        acc.clear()

    def reset_state(self) -> None:
        self.flush()

    # --------------------------------------------------------- connections
    def client_state(self, call: Call | None = None) -> ClientState:
        """The state of the connection ``call`` (default: the current call) came on."""
        c = call or self.current
        conn = None if c is None else c.conn
        st = self.clients.get(conn)
        if st is None:
            st = self.clients[conn] = ClientState(conn, "" if c is None else c.src, self.env.now)
            self.stats["total_connections_received"] += 1
        elif c is not None:
            st.node = c.src
        return st

    def free_client(self, st: ClientState) -> None:
        """``freeClient``: the connection is gone (QUIT): drop its transaction, subscriptions and blocks."""
        self.unsubscribe_all(st, notify=False)
        self.unblock(st)
        self.clients.pop(st.conn, None)

    # hooks the command groups fill in
    def unsubscribe_all(self, st: ClientState, notify: bool) -> int:
        """Drop every channel and pattern subscription of ``st``."""
        return 0

    def serve_ready_keys(self) -> None:
        """``handleClientsBlockedOnKeys`` (the list group serves list keys)."""
        self.ready_keys.clear()

    def block(self, st: ClientState, req: BlockRequest, resume: Callable[[Any], None], deferred: Deferred) -> None:
        """``blockForKeys``: park ``st`` until a key in ``req.keys`` can serve it or its deadline passes."""
        b = Blocked(st, req, resume, deferred)
        st.blocked = b
        for key in req.keys:
            q = self.blocking_keys.get(key)
            if q is None:
                q = self.blocking_keys[key] = deque()
            if b not in q:
                q.append(b)
        self.blocked_clients[b] = None
        if req.deadline:
            self._block_seq += 1
            heapq.heappush(self._block_heap, (req.deadline, self._block_seq, b))

    def unblock_entry(self, b: Blocked) -> None:
        """``unblockClient``: forget a blocked client everywhere (its answer is the caller's business)."""
        if b.done:
            return
        b.done = True
        self.blocked_clients.pop(b, None)
        if b.st.blocked is b:
            b.st.blocked = None
        for key in b.keys:
            q = self.blocking_keys.get(key)
            if q is None:
                continue
            try:
                q.remove(b)
            except ValueError:
                pass
            if not q:
                del self.blocking_keys[key]

    def unblock(self, st: ClientState) -> None:
        """Forget that ``st`` is blocked (no answer is sent)."""
        if st.blocked is not None:
            self.unblock_entry(st.blocked)

    def handle_blocked_timeouts(self) -> None:
        """``handleBlockedClientsTimeout``: clients whose deadline has passed (``timeout < now``) get nil."""
        heap = self._block_heap
        if not heap:
            return
        now = self.mstime()
        later = []
        while heap and heap[0][0] < now:
            item = heapq.heappop(heap)
            b = item[2]
            if b.done:
                continue
            if not b.ready:
                later.append(item)  # its command is still in service: it times out once that ends
                continue
            self.unblock_entry(b)
            b.resume(None)
        for item in later:
            heapq.heappush(heap, item)

    def on_crash(self) -> None:
        super().on_crash()
        # the process is gone: connections, blocks, subscriptions, transactions and the script cache with it
        self.clients.clear()
        self.blocking_keys.clear()
        self.ready_keys.clear()
        self.blocked_clients.clear()
        self._block_heap.clear()
        self.pubsub_channels.clear()
        self.pubsub_patterns.clear()

    def on_restart(self) -> None:
        self.scripts.clear()  # Redis 7 does not persist the script cache

    # ------------------------------------------------------------- serving
    def execute(self, call: Call) -> Any:
        """One message from a client: its command (or pipeline) processed as ``processInputBuffer`` would."""
        self.current = call
        try:
            st = self.client_state(call)
            if call.batch:
                return self._run_batch(call, st, list(call.cmd), [], None)
            reply = self.process(call.cmd, st)
            if isinstance(reply, BlockRequest):
                d = Deferred()
                self.block(st, reply, _resolver(d), d)
                return d
            return reply
        finally:
            self.current = None
            self.before_sleep()

    def _run_batch(self, call: Call, st: ClientState, cmds: list[Any], results: list[Any],
                   deferred: Deferred | None) -> Any:
        """Commands of a pipeline back to back; a blocked one holds the rest until it is served."""
        while cmds:
            reply = self.process(cmds.pop(0), st)
            if isinstance(reply, BlockRequest):
                d = deferred or Deferred()
                epoch = self.epoch

                def resume(value: Any, rest: list[Any] = cmds, d: Deferred = d, epoch: int = epoch) -> None:
                    results.append(value)
                    # the client's remaining commands run once it is unblocked, after the current event
                    t = self.env.timeout(0)
                    t.callbacks.append(lambda _e: self._resume_batch(call, st, rest, results, d, epoch))

                self.block(st, reply, resume, d)
                return d
            results.append(reply)
        if deferred is not None:
            deferred.resolve(results)
        return results

    def _resume_batch(self, call: Call, st: ClientState, rest: list[Any], results: list[Any], d: Deferred,
                      epoch: int) -> None:
        if epoch != self.epoch or not self.up:
            return
        self.current = call
        try:
            self._run_batch(call, st, rest, results, d)
        finally:
            self.current = None

    def before_sleep(self) -> None:
        """``beforeSleep``: blocked clients whose time is up, and the fast active expiry cycle."""
        if self._block_heap:
            self.handle_blocked_timeouts()
        if self.active_expiry and (self._timelimit_exit or self.expired_stale_perc >= ACCEPTABLE_STALE / 100):
            self.active_expire_cycle(fast=True)

    def lookup_command(self, argv: tuple[Any, ...]) -> tuple[Spec | None, str | None]:
        """``lookupCommand`` + ``commandCheckExistence`` + ``commandCheckArity``: the spec, or the error text."""
        spec = self._by_raw_name.get(argv[0])
        if spec is not None:  # the common case: a plain command name seen before
            n = len(argv)
            if (spec.arity > 0 and spec.arity != n) or n < -spec.arity:
                return None, f"ERR wrong number of arguments for '{spec.name}' command"
            return spec, None
        name = upper_name(argv[0])
        spec = self.SPECS.get(name)
        if spec is not None and name not in CONTAINERS and isinstance(argv[0], bytes | str):
            self._by_raw_name[argv[0]] = spec
        if name in CONTAINERS:
            if len(argv) < 2:
                return None, f"ERR wrong number of arguments for '{name.lower()}' command"
            sub = upper_name(argv[1])
            spec = self.SPECS.get(f"{name}|{sub}")
            if spec is None:
                return None, f"ERR unknown subcommand '{_trunc(argv[1], 128)}'. Try {name} HELP."
        if spec is None:
            args = ""
            for a in argv[1:]:
                if len(args) >= 128:
                    break
                args += "'" + _trunc(a, 128 - len(args)) + "' "
            text = f"ERR unknown command '{_trunc(argv[0], 128)}', with args beginning with: {args}"
            return None, text.replace("\r", " ").replace("\n", " ")
        n = len(argv)
        if (spec.arity > 0 and spec.arity != n) or n < -spec.arity:
            return None, f"ERR wrong number of arguments for '{spec.name}' command"
        return spec, None

    def dispatch(self, cmd: tuple[Any, ...]) -> Any:
        """One command from the current connection, through :meth:`process`."""
        return self.process(cmd, self.client_state())

    def process(self, cmd: tuple[Any, ...], st: ClientState) -> Any:
        """``processCommand``: checks, MULTI queueing, OOM, then :meth:`call`; the reply (or a BlockRequest)."""
        for a in cmd:
            if a.__class__ is not bytes:
                argv = tuple(norm_arg(a) for a in cmd)
                break
        else:
            argv = cmd if cmd.__class__ is tuple else tuple(cmd)
        spec, err = self.lookup_command(argv)
        if spec is None:
            return self._reject(st, None, err or "ERR")
        name = spec.upper
        # --- cluster hook: processCommand's redirection (cluster.c getNodeByQuery), before OOM and MULTI queueing
        if self.cluster_enabled:
            redirect = self.cluster_redirect(spec, argv, st)
            if redirect is not None:
                return self._reject(st, spec, redirect)
        # --- end of the cluster hook
        if self.maxmemory:
            oom = not self.perform_evictions()
            reject = "denyoom" in spec.flags
            if name == "EXEC":
                reject = reject or "denyoom" in st.multi_flags
            elif st.multi is not None and name not in ("DISCARD", "QUIT", "RESET"):
                reject = True  # queueing may take unbounded memory
            if oom and reject:
                self.stats["rejected_oom"] += 1
                return self._reject(st, spec, OOM)
            self.pre_command_oom = oom
        denied = self.deny_command(spec, st)
        if denied is not None:
            return self._reject(st, spec, denied)
        if (st.channels or st.patterns) and name not in PUBSUB_ALLOWED:
            return self._reject(st, spec, f"ERR Can't execute '{spec.name}': only (P|S)SUBSCRIBE / "
                                          "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        if st.multi is not None and name not in NOT_QUEUED:
            if not st.dirty_exec:
                st.multi.append((spec, argv))
                st.multi_flags |= spec.flags
            return "QUEUED"
        reply = self.call(spec, argv)
        if self.ready_keys and not self.in_exec and not self.in_script:
            self.serve_ready_keys()
            self._settle()
        return reply

    def deny_command(self, spec: Spec, st: ClientState) -> str | None:
        """The rest of ``processCommand``'s refusals (replication, loading): an error text, or None to go on."""
        return None

    def cluster_redirect(self, spec: Spec, argv: tuple[Any, ...], st: ClientState) -> str | None:
        """Cluster mode only: the redirection or error text for this command, or None to run it here."""
        return None

    def _reject(self, st: ClientState, spec: Spec | None, err: str) -> ResponseError:
        """``rejectCommand``: an error reply that also dooms an open transaction (EXEC aborts with it)."""
        self.stats["rejected_calls"] += 1
        self.stats["total_error_replies"] += 1
        self.errors += 1
        if st.multi is not None:
            if spec is not None and spec.name == "exec":
                self.discard_transaction(st)
                return ResponseError(f"EXECABORT Transaction discarded because of: {err}")
            st.dirty_exec = True
        return ResponseError(err)

    def discard_transaction(self, st: ClientState) -> None:
        """``discardTransaction``."""
        st.multi = None
        st.multi_flags = set()
        st.dirty_exec = False

    def call(self, spec: Spec, argv: tuple[Any, ...]) -> Any:
        """``call()``: run the handler; the reply (a ResponseError instance for an error reply)."""
        try:
            reply = spec.handler(self, *argv[spec.skip:])
        except ReplyError as err:
            reply = ResponseError(str(err))
        self.stats["total_commands_processed"] += 1  # after the command, as call() counts it (INFO excludes itself)
        if isinstance(reply, ResponseError):
            self.stats["total_error_replies"] += 1
            self.errors += 1
        if self._accessed:
            self._settle()
            used = self.policy.used + self.baseline_memory
            if used > self.used_memory_peak:
                self.used_memory_peak = used
        return reply

    def exec_transaction(self, st: ClientState) -> Any:
        """``execCommand``: run the queued commands; their replies (EXECABORT if one was refused)."""
        if st.multi is None:
            raise ReplyError("ERR EXEC without MULTI")
        if st.dirty_exec:
            self.discard_transaction(st)
            raise ReplyError(EXECABORT)
        queued = st.multi
        self.discard_transaction(st)
        self.in_exec = True
        try:
            return [self.call(spec, argv) for spec, argv in queued]
        finally:
            self.in_exec = False

    # ---------------------------------------------------------------- cron
    def _cron(self) -> Generator[simpy.Event, Any, None]:
        """``serverCron`` at ``hz``: active expiry (slow cycle), blocked-client timeouts, ops/sec samples."""
        while True:
            yield self.env.timeout(1.0 / self.hz)  # CONFIG SET hz applies from the next tick
            if not self.up or self.paused:
                continue
            if self.env.now - self._ops_last[0] >= 0.1 - 1e-9:  # run_with_period(100)
                self._track_ops()
            self.handle_blocked_timeouts()
            if self.active_expiry:
                self.active_expire_cycle()

    def _track_ops(self) -> None:
        """``trackInstantaneousMetric`` for ``instantaneous_ops_per_sec`` (16 samples)."""
        t0, n0 = self._ops_last
        now, n = self.env.now, self.stats["total_commands_processed"]
        if now > t0:
            self._ops_samples.append((n - n0) / (now - t0))
        self._ops_last = (now, n)

    @property
    def instantaneous_ops_per_sec(self) -> int:
        """Mean command rate over the last 16 cron samples."""
        s = self._ops_samples
        return int(sum(s) / len(s)) if s else 0

    def active_expire_cycle(self, fast: bool = False) -> int:
        """``activeExpireCycle`` (slow by default, ``fast`` for the beforeSleep variant); keys expired."""
        now_s = self.env.now
        if fast:
            if not self._timelimit_exit and self.expired_stale_perc < ACCEPTABLE_STALE / 100:
                return 0
            if now_s < self._last_fast_cycle + 2 * FAST_DURATION_US / 1e6:
                return 0
            self._last_fast_cycle = now_s
            timelimit = FAST_DURATION_US / 1e6
        else:
            timelimit = SLOW_TIME_PERC / 100 / self.hz
        self._timelimit_exit = False
        exp = self.expires
        now = self.mstime()
        elapsed = 0.0
        total_sampled = total_expired = iteration = 0
        while True:
            iteration += 1
            if not len(exp):
                self.avg_ttl = 0
                break
            sampled = expired = ttl_sum = ttl_samples = 0
            for key in exp.scan(KEYS_PER_LOOP):
                when = exp.get(key)
                if when is None:
                    continue
                sampled += 1
                ttl = when - now
                if now > when:
                    self.delete_expired(key)
                    expired += 1
                elif ttl > 0:
                    ttl_sum += ttl
                    ttl_samples += 1
            total_sampled += sampled
            total_expired += expired
            elapsed += sampled * self.expire_key_cost
            if ttl_samples:
                avg = ttl_sum // ttl_samples
                if self.avg_ttl == 0:
                    self.avg_ttl = avg
                self.avg_ttl = (self.avg_ttl // 50) * 49 + avg // 50
            if iteration % 16 == 0 and elapsed > timelimit:
                self._timelimit_exit = True
                self.stats["expired_time_cap_reached_count"] += 1
                break
            if sampled and expired * 100 // sampled <= ACCEPTABLE_STALE:
                break
        perc = total_expired / total_sampled if total_sampled else 0.0
        self.expired_stale_perc = perc * 0.05 + self.expired_stale_perc * 0.95
        self._settle()
        return total_expired

    # ------------------------------------------------------------- serving
    def reply_size(self, reply: Any) -> int:
        """Bytes of a reply on the wire (an array counts its elements)."""
        if reply.__class__ is list:
            return sum(self.reply_size(x) for x in reply)
        return size_of(reply)

    def service_time(self, call: Call) -> float:
        """Event-loop time of the call: one draw per command.

        With ``io_threads`` > 1, reading and writing sockets moves off the main
        thread; the model divides the per-command cost by ``min(io_threads, 2)``
        (the main thread still parses and executes), a rough stand-in for
        Redis 6's threaded I/O.
        """
        t = super().service_time(call)
        return t / min(self.io_threads, 2) if self.io_threads > 1 else t

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(keys=len(self.data), used_memory=self.used_memory, connected_clients=len(self.clients),
                 blocked_clients=len(self.blocked_clients), hits=self.stats["keyspace_hits"],
                 misses=self.stats["keyspace_misses"], evictions=self.stats["evicted_keys"],
                 expired=self.stats["expired_keys"], rejected_oom=self.stats["rejected_oom"])
        return d


def _resolver(d: Deferred) -> Callable[[Any], None]:
    """What a single blocked command does with its answer: send it as the call's reply."""

    def resolve(value: Any) -> None:
        d.resolve(value)

    return resolve


def _trunc(a: Any, n: int) -> str:
    """``%.*s`` of an argument (at most ``n`` characters)."""
    return as_bytes(a)[:max(n, 0)].decode(errors="replace")


def norm_arg(a: Any) -> Any:
    """An argument as the server keeps it: bytes (a simulation Value, or any opaque object, stays itself)."""
    if isinstance(a, bytes):
        return a
    if isinstance(a, str | int | float | bytearray | memoryview):
        return as_bytes(a)
    return a
