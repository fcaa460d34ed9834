"""A simulated Redis server: one event loop over a typed keyspace, with expiry, maxmemory and eviction.

Faithful to Redis 7 where it matters to a cache simulation (each point names
the Redis source it follows):

* Commands are a table (:func:`~simcache.sim.server.command`); replies are
  what Redis sends (``"OK"`` status replies as the str ``"OK"``, bulk
  strings as bytes, integers, arrays as lists, nil as None), error replies
  carry Redis's own text (``server.c``, ``t_string.c``).
* Keys and values arrive encoded as redis-py encodes them (bytes); a
  simulation :class:`~simcache.sim.oracle.Value` is stored as an opaque
  string of ``value.size`` bytes.
* Expiry (``db.c`` ``expireIfNeeded``): a key past its expiry is deleted
  when a command touches it (lazy), and by the active expiry cycle.
* Memory (``used_memory``): the sum over keys of key bytes + value bytes +
  :data:`KEY_OVERHEAD` (an estimate of the dictEntry, robj and sds headers;
  a real server's ``used_memory`` also counts its own buffers, so the two do
  not compare byte for byte).  With ``maxmemory`` > 0, victims are chosen by
  the ``maxmemory-policy`` models of :mod:`simcache.policies.redis`
  (``evict.c``); ``noeviction`` refuses writes with Redis's OOM error.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.policies.base import Policy, make_policy, policy_names
from simcache.sim.dists import Dist
from simcache.sim.rpc import Call, ReplyError
from simcache.sim.server import Queueing, Server, command
from simcache.sim.world import World

#: bytes charged per key on top of its key and value (dictEntry + robj + sds headers, 64-bit build)
KEY_OVERHEAD = 56
#: Redis's maxmemory-policy names -> simcache's policy models of them
MAXMEMORY_POLICIES = {
    "noeviction": "redis-noeviction",
    "allkeys-lru": "redis-allkeys-lru",
    "allkeys-lfu": "redis-allkeys-lfu",
    "allkeys-random": "redis-allkeys-random",
    "volatile-lru": "redis-volatile-lru",
    "volatile-lfu": "redis-volatile-lfu",
    "volatile-random": "redis-volatile-random",
    "volatile-ttl": "redis-volatile-ttl",
}
OOM = "OOM command not allowed when used memory > 'maxmemory'."
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INT = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"
#: no key-space limit: the policy's capacity when maxmemory is 0
UNLIMITED = 1 << 62


class RObj:
    """One key's value: its type (``string``, ``hash``, ``list``, ``set``, ``zset``) and bytes charged."""

    __slots__ = ("type", "value", "size")

    def __init__(self, type_: str, value: Any, size: int) -> None:
        self.type = type_
        self.value = value
        self.size = size


def value_bytes(v: Any) -> int:
    """Bytes a string value takes (a simulation Value counts its ``size``)."""
    if isinstance(v, bytes | bytearray):
        return len(v)
    return int(getattr(v, "size", 0) or 0)


def to_int(b: Any) -> int:
    """Parse an integer argument as Redis does (``string2ll``), or raise the not-an-integer error."""
    if isinstance(b, int) and not isinstance(b, bool):
        return b
    try:
        s = bytes(b).decode() if isinstance(b, bytes | bytearray) else str(b)
        if s != s.strip() or (len(s) > 1 and s[0] == "0") or s.startswith("+") or s == "-0":
            raise ValueError
        n = int(s)
    except (ValueError, TypeError):
        raise ReplyError(NOT_INT) from None
    if not -(2**63) <= n < 2**63:
        raise ReplyError(NOT_INT)
    return n


def to_float(b: Any) -> float:
    """Parse a float argument (``-inf``/``+inf`` allowed), or raise Redis's not-a-float error."""
    try:
        s = bytes(b).decode() if isinstance(b, bytes | bytearray) else str(b)
        f = float(s)
    except (ValueError, TypeError):
        raise ReplyError("ERR value is not a valid float") from None
    if math.isnan(f):
        raise ReplyError("ERR value is not a valid float")
    return f


class RedisServer(Server):
    """A single Redis instance.

    Args:
        world: the simulation world.
        name: component name (also the node unless ``node`` is given).
        node: network node.
        service: service time of one command on the event loop.
        maxmemory: bytes (0: no limit), as ``maxmemory``.
        maxmemory_policy: a Redis policy name (``allkeys-lru``...) or any simcache policy name (an exact model).
        maxmemory_samples: keys sampled per eviction (``maxmemory-samples``).
        io_threads: Redis 6+ I/O threads (1: off); see :meth:`service_time`.
        active_expiry: run the active expiry cycle ``hz`` times a second.
        hz: server cron frequency (``hz``).
        queueing: ``"fast"`` or ``"events"``.
    """

    GAUGES = ("up", "queued", "busy_workers", "keys", "used_memory", "connected_clients")

    def __init__(self, world: World, name: str = "redis", node: str | None = None,
                 service: Dist | str | float = "exp:0.0001", *, maxmemory: int = 0,
                 maxmemory_policy: str = "noeviction", maxmemory_samples: int = 5, io_threads: int = 1,
                 active_expiry: bool = True, hz: int = 10, queueing: Queueing = "fast") -> None:
        super().__init__(world, name, node, service, 1, queueing)
        if int(maxmemory) != maxmemory or maxmemory < 0:
            raise UsageError(f"{name}: maxmemory must be an integer >= 0 bytes, got {maxmemory!r}")
        if int(io_threads) != io_threads or io_threads < 1:
            raise UsageError(f"{name}: io_threads must be an integer >= 1, got {io_threads!r}")
        if int(hz) != hz or not 1 <= hz <= 500:
            raise UsageError(f"{name}: hz must be an integer in [1, 500], got {hz!r}")
        self.io_threads = int(io_threads)
        self.hz = int(hz)
        self._policy_rng = world.rng(f"{name}:eviction")
        self._expire_rng = world.rng(f"{name}:expire")
        self.maxmemory = int(maxmemory)
        self.maxmemory_samples = int(maxmemory_samples)
        self.maxmemory_policy = ""
        self.data: dict[Any, RObj] = {}
        self.expires: dict[Any, float] = {}
        self.used_memory = 0
        self.stats = {"keyspace_hits": 0, "keyspace_misses": 0, "evicted_keys": 0, "expired_keys": 0,
                      "total_commands_processed": 0, "rejected_oom": 0}
        self.policy: Policy = self._make_policy(maxmemory_policy)
        self.connections: set[Any] = set()
        self.active_expiry = bool(active_expiry)
        if self.active_expiry:
            self.env.process(self._cron())
        self.watch()

    # ------------------------------------------------------------ policy
    def _make_policy(self, name: str) -> Policy:
        pname = MAXMEMORY_POLICIES.get(name, name)
        if pname not in policy_names():
            valid = ", ".join(list(MAXMEMORY_POLICIES) + [p for p in policy_names() if not p.startswith("redis-")])
            raise UsageError(f"{self.name}: unknown maxmemory-policy {name!r}; valid: {valid}")
        cap = self.maxmemory or UNLIMITED
        params = {"maxmemory_samples": self.maxmemory_samples} if pname.startswith("redis-") else {}
        pol = make_policy(pname, cap, rng=self._policy_rng, **params)
        for key, obj in self.data.items():
            pol.insert(key, self._charge(key, obj), now=self.env.now, expire_at=self.expires.get(key))
        pol.on_evict = self._evicted
        self.maxmemory_policy = name
        return pol

    @staticmethod
    def _charge(key: Any, obj: RObj) -> int:
        return value_bytes(key) + obj.size + KEY_OVERHEAD

    def _evicted(self, key: Any, size: int) -> None:
        obj = self.data.pop(key, None)
        if obj is not None:
            self.used_memory -= size
            self.expires.pop(key, None)
            self.stats["evicted_keys"] += 1

    # ---------------------------------------------------------- keyspace
    def lookup(self, key: Any, *, read: bool = True) -> RObj | None:
        """The key's object after lazy expiry (``lookupKeyRead``/``lookupKeyWrite``); counts hits/misses on reads."""
        obj = self.data.get(key)
        if obj is not None:
            at = self.expires.get(key)
            if at is not None and at <= self.env.now:
                self._expire(key)
                obj = None
        if read:
            if obj is None:
                self.stats["keyspace_misses"] += 1
            else:
                self.stats["keyspace_hits"] += 1
                self.policy.lookup(key, now=self.env.now)
        return obj

    def typed(self, key: Any, type_: str, *, read: bool = True) -> RObj | None:
        """The key's object, or None; a key of another type raises WRONGTYPE."""
        obj = self.lookup(key, read=read)
        if obj is not None and obj.type != type_:
            raise ReplyError(WRONGTYPE)
        return obj

    def store(self, key: Any, obj: RObj, *, keep_ttl: bool = False) -> None:
        """Put ``obj`` under ``key`` (replacing what was there), charging its memory; OOM when it cannot fit."""
        old = self.data.get(key)
        size = self._charge(key, obj)
        now = self.env.now
        if old is not None:
            oldsize = self._charge(key, old)
            self.data[key] = obj
            self.used_memory += size - oldsize
            if not keep_ttl:
                self.expires.pop(key, None)
                self.policy.set_expire(key, None)
            self.policy.lookup(key, size, now=now)
            if key not in self.policy:  # evicted itself making room
                self.data.pop(key, None)
            return
        if not self.policy.insert(key, size, now=now, expire_at=None):
            self.stats["rejected_oom"] += 1
            raise ReplyError(OOM)
        self.data[key] = obj
        self.used_memory += size

    def resized(self, key: Any, obj: RObj) -> None:
        """Tell memory accounting that ``obj`` (already stored) changed size in place."""
        old = self.policy.sizes.get(key)
        size = self._charge(key, obj)
        if old is not None:
            self.used_memory += size - old
            self.policy.lookup(key, size, now=self.env.now)

    def remove(self, key: Any) -> bool:
        """Delete a key (no expiry or eviction counted)."""
        obj = self.data.pop(key, None)
        if obj is None:
            return False
        self.expires.pop(key, None)
        size = self.policy.sizes.get(key, 0)
        self.policy.remove(key)
        self.used_memory -= size
        return True

    def set_expire(self, key: Any, at: float | None) -> None:
        """Set (or clear, with None) a key's absolute expiry time."""
        if at is None:
            self.expires.pop(key, None)
        else:
            self.expires[key] = at
        self.policy.set_expire(key, at)

    def _expire(self, key: Any) -> None:
        self.remove(key)
        self.stats["expired_keys"] += 1

    def reset_state(self) -> None:
        for key in list(self.data):
            self.remove(key)

    # ------------------------------------------------------------ cron
    def _cron(self) -> Generator[simpy.Event, Any, None]:
        """``serverCron`` at ``hz``: the active expiry cycle (``expire.c`` ``activeExpireCycle``, slow mode)."""
        period = 1.0 / self.hz
        while True:
            yield self.env.timeout(period)
            if self.up and not self.paused:
                self.active_expire_cycle()

    def active_expire_cycle(self, keys_per_loop: int = 20, acceptable_stale: float = 0.10,
                            max_loops: int = 16) -> int:
        """One cycle: sample ``keys_per_loop`` keys with an expiry, delete the expired, repeat while more
        than ``acceptable_stale`` of a sample had expired (Redis 7 ``ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP = 20``,
        ``ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE = 10``); ``max_loops`` stands for the cycle's time limit."""
        now = self.env.now
        total = 0
        for _ in range(max_loops):
            n = len(self.expires)
            if n == 0:
                break
            keys = list(self.expires)
            picks = self._expire_rng.choice(n, size=min(keys_per_loop, n), replace=False)
            expired = 0
            for i in picks:
                k = keys[int(i)]
                if self.expires.get(k, math.inf) <= now:
                    self._expire(k)
                    expired += 1
            total += expired
            if expired <= acceptable_stale * len(picks):
                break
        return total

    # ---------------------------------------------------------- serving
    def service_time(self, call: Call) -> float:
        """Event-loop time of the call: one draw per command.

        With ``io_threads`` > 1, reading and writing sockets moves off the main
        thread; the model divides the per-command cost by ``min(io_threads, 2)``
        (the main thread still parses and executes), a rough stand-in for
        Redis 6's threaded I/O.
        """
        t = super().service_time(call)
        return t / min(self.io_threads, 2) if self.io_threads > 1 else t

    def dispatch(self, cmd: tuple[Any, ...]) -> Any:
        self.stats["total_commands_processed"] += 1
        return super().dispatch(cmd)

    def unknown_command(self, cmd: tuple[Any, ...]) -> str:
        name = cmd[0].decode() if isinstance(cmd[0], bytes) else str(cmd[0])
        args = " ".join(f"'{a.decode(errors='replace') if isinstance(a, bytes) else a}'" for a in cmd[1:])
        return f"ERR unknown command '{name}', with args beginning with: {args}" + (" " if args else "")

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(keys=len(self.data), used_memory=self.used_memory, connected_clients=len(self.connections),
                 hits=self.stats["keyspace_hits"], misses=self.stats["keyspace_misses"],
                 evictions=self.stats["evicted_keys"], expired=self.stats["expired_keys"])
        return d

    # ========================================================= commands
    @command("PING")
    def _ping(self, message: Any = None) -> Any:
        return "PONG" if message is None else message

    @command("GET")
    def _get(self, key: Any) -> Any:
        obj = self.typed(key, "string")
        return None if obj is None else obj.value

    @command("SET")
    def _set(self, key: Any, value: Any, *opts: Any) -> Any:
        nx = xx = keepttl = get = False
        at: float | None = None
        i = 0
        while i < len(opts):
            o = opts[i].upper() if isinstance(opts[i], bytes) else str(opts[i]).upper().encode()
            if o == b"NX" and not xx:
                nx = True
            elif o == b"XX" and not nx:
                xx = True
            elif o == b"GET":
                get = True
            elif o == b"KEEPTTL" and at is None:
                keepttl = True
            elif o in (b"EX", b"PX", b"EXAT", b"PXAT") and at is None and not keepttl and i + 1 < len(opts):
                n = to_int(opts[i + 1])
                if n <= 0:
                    raise ReplyError("ERR invalid expire time in 'set' command")
                now = self.env.now
                at = {b"EX": now + n, b"PX": now + n / 1000, b"EXAT": float(n), b"PXAT": n / 1000}[o]
                i += 1
            else:
                raise ReplyError(SYNTAX)
            i += 1
        old = self.lookup(key, read=False)
        if get and old is not None and old.type != "string":
            raise ReplyError(WRONGTYPE)
        prev = old.value if (get and old is not None) else None
        if (nx and old is not None) or (xx and old is None):
            return prev if get else None
        self.store(key, RObj("string", value, value_bytes(value)), keep_ttl=keepttl)
        if at is not None:
            self.set_expire(key, at)
        return prev if get else "OK"

    @command("SETEX")
    def _setex(self, key: Any, seconds: Any, value: Any) -> str:
        n = to_int(seconds)
        if n <= 0:
            raise ReplyError("ERR invalid expire time in 'setex' command")
        self.store(key, RObj("string", value, value_bytes(value)))
        self.set_expire(key, self.env.now + n)
        return "OK"

    @command("DEL")
    def _del(self, *keys: Any) -> int:
        if not keys:
            raise TypeError("missing 1 required positional argument")
        n = 0
        for k in keys:
            if self.lookup(k, read=False) is not None:
                self.remove(k)
                n += 1
        return n

    @command("EXISTS")
    def _exists(self, *keys: Any) -> int:
        if not keys:
            raise TypeError("missing 1 required positional argument")
        return sum(1 for k in keys if self.lookup(k, read=False) is not None)

    @command("EXPIRE")
    def _expire_cmd(self, key: Any, seconds: Any) -> int:
        n = to_int(seconds)
        if self.lookup(key, read=False) is None:
            return 0
        if n <= 0:
            self.remove(key)
            return 1
        self.set_expire(key, self.env.now + n)
        return 1

    @command("TTL")
    def _ttl(self, key: Any) -> int:
        if self.lookup(key, read=False) is None:
            return -2
        at = self.expires.get(key)
        if at is None:
            return -1
        return int((at - self.env.now) * 1000 + 500) // 1000

    @command("INFO")
    def _info(self, section: Any = None) -> bytes:
        lines = [
            "# Clients", f"connected_clients:{len(self.connections)}",
            "# Memory", f"used_memory:{self.used_memory}", f"maxmemory:{self.maxmemory}",
            f"maxmemory_policy:{self.maxmemory_policy}",
            "# Stats", *(f"{k}:{v}" for k, v in self.stats.items() if k != "rejected_oom"),
            "# Keyspace", f"db0:keys={len(self.data)},expires={len(self.expires)},avg_ttl=0" if self.data else "",
        ]
        return ("\r\n".join(x for x in lines if x) + "\r\n").encode()

    @command("CONFIG")
    def _config(self, sub: Any, *args: Any) -> Any:
        s = (sub.decode() if isinstance(sub, bytes) else str(sub)).upper()
        names = [a.decode() if isinstance(a, bytes) else str(a) for a in args]
        if s == "GET" and len(names) == 1:
            conf = {"maxmemory": str(self.maxmemory), "maxmemory-policy": self.maxmemory_policy,
                    "maxmemory-samples": str(self.maxmemory_samples)}
            out: list[bytes] = []
            for k, v in conf.items():
                if _glob(names[0].lower(), k):
                    out += [k.encode(), v.encode()]
            return out
        if s == "SET" and len(names) >= 2 and len(names) % 2 == 0:
            for k, v in zip(names[::2], names[1::2], strict=True):
                k = k.lower()
                if k == "maxmemory":
                    self.maxmemory = to_int(v.encode())
                    self.policy = self._make_policy(self.maxmemory_policy)
                elif k == "maxmemory-policy":
                    if v.lower() not in MAXMEMORY_POLICIES:
                        raise ReplyError(f"ERR CONFIG SET failed (possibly related to argument '{k}') - "
                                         f"argument(s) must be one of the following: " + ", ".join(MAXMEMORY_POLICIES))
                    self.policy = self._make_policy(v.lower())
                elif k == "maxmemory-samples":
                    self.maxmemory_samples = to_int(v.encode())
                    self.policy = self._make_policy(self.maxmemory_policy)
                else:
                    raise ReplyError(f"ERR Unknown option or number of arguments for CONFIG SET - '{k}'")
            return "OK"
        raise ReplyError(f"ERR unknown subcommand or wrong number of arguments for '{s}'. Try CONFIG HELP.")


def _glob(pattern: str, s: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(s, pattern)
