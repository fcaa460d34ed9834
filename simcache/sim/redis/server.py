"""A simulated Redis server: one event loop over a typed keyspace, with expiry, maxmemory, eviction and more.

:class:`RedisServer` joins the command groups (strings, hashes, lists with
blocking pops, sets, sorted sets, pub/sub, scripts) over the engine in
:mod:`simcache.sim.redis.core`, and adds the keyspace-wide and server
commands: DEL, EXISTS, EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (NX, XX, GT, LT),
TTL/PTTL/EXPIRETIME, PERSIST, TYPE, KEYS, DBSIZE, FLUSHALL/FLUSHDB
(``db.c``, ``expire.c``); PING, ECHO, TIME, INFO, CONFIG GET/SET/RESETSTAT,
MULTI/EXEC/DISCARD, RESET, QUIT (``server.c``, ``config.c``, ``multi.c``).
Replies are what Redis 7.0 sends on a RESP2 connection: ``"OK"`` status
replies as str, bulk strings as bytes, integers, arrays as lists, nil as
None, error replies with Redis's own text.  Keys and values arrive encoded
as redis-py encodes them (bytes); a simulation
:class:`~simcache.sim.oracle.Value` is stored as an opaque string of
``value.size`` bytes.  ``tests/sim/redis`` runs random command sequences
against a real ``redis-server`` and this model and requires the same replies.

Where the model is knowingly approximate:

* **Memory** is an estimate: key + value bytes, :data:`ELEMENT_OVERHEAD` per
  element of a collection, :data:`KEY_OVERHEAD` per key, plus
  ``baseline_memory``; no allocator rounding, client buffers or encodings
  (listpack / intset / hashtable), so ``used_memory`` does not match a real
  server byte for byte.
* **Eviction** (Redis policies) runs before every command as
  ``performEvictions`` does, but all at once: its time limit, lazy freeing
  and the eviction timer are not modelled, and the policy models sample
  exactly uniformly (``dictGetSomeKeys`` samples neighbouring buckets).
  Other simcache policies are exact models that never overshoot nor answer
  OOM.
* **Active expiry** spends a budget of ``expire_key_cost`` per examined key
  instead of CPU time, does not take that time from the event loop, and
  walks a shuffled array of the keys with an expiry instead of the hash table.
* **Blocked clients**: a push's served replies leave when the pushing
  command starts, not when it ends; commands pipelined after a blocked pop
  run the moment it is served, without service time; a timed-out client
  closes its connection only when its call was a blocking one.
* **Transactions**: no WATCH; commands that push (SUBSCRIBE) inside MULTI
  are not modelled.
* **Scripts** are Python equivalents of Lua (see
  :mod:`~simcache.sim.redis.scripting`): no script timeout (BUSY), the line
  in an error's ``@user_script:<line>`` is found by a heuristic.
* **Orders**: a set's members and KEYS come back in insertion order (Redis:
  intset order, or hash order); BYLEX on members of unequal scores follows the
  small-encoding walk; doubles are replied with ``%.17g`` (as 7.0; 7.2 and
  later print the shortest form).
* **Not modelled**: RESP3 (redis-py 8's default connection converts RESP3
  back to these shapes, which the client's methods return), SELECT and
  other databases, AOF rewriting, cluster, ACLs, keyspace
  notifications, sharded pub/sub, most INFO fields and CONFIG parameters.
"""

from __future__ import annotations

import hashlib
from typing import Any

from simcache.policies.redis import RedisPolicy
from simcache.sim.redis.core import (
    ELEMENT_OVERHEAD,
    KEY_OVERHEAD,
    MAXMEMORY_POLICIES,
    UNLIMITED,
    RObj,
    redis_command,
    value_bytes,
)
from simcache.sim.redis.hashes import HashCommands
from simcache.sim.redis.lists import ListCommands
from simcache.sim.redis.persistence import PersistenceCommands
from simcache.sim.redis.proto import (
    LLONG_MAX,
    LLONG_MIN,
    NOT_INT,
    OOM,
    SYNTAX,
    WRONGTYPE,
    as_bytes,
    memtoull,
    parse_int,
    string2ll,
    stringmatch,
    upper_name,
)
from simcache.sim.redis.pubsub import PubSubCommands
from simcache.sim.redis.scripting import ScriptCommands
from simcache.sim.redis.sets import SetCommands
from simcache.sim.redis.strings import StringCommands
from simcache.sim.redis.zsets import ZSetCommands
from simcache.sim.rpc import ReplyError

__all__ = ["ELEMENT_OVERHEAD", "KEY_OVERHEAD", "MAXMEMORY_POLICIES", "NOT_INT", "OOM", "RObj", "RedisServer",
           "SYNTAX", "UNLIMITED", "WRONGTYPE", "value_bytes"]

INFO_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace")
_EXPIRE_FLAGS = (b"NX", b"XX", b"GT", b"LT")
_INT_MAX = 2**31 - 1


def bytes_to_human(n: int) -> str:
    """``bytesToHuman`` (``used_memory_human``)."""
    if n < 1024:
        return f"{n}B"
    for unit, div in (("K", 1024), ("M", 1024**2), ("G", 1024**3), ("T", 1024**4)):
        if n < div * 1024 or unit == "T":
            return f"{n / div:.2f}{unit}"
    return f"{n}B"  # pragma: no cover


class RedisServer(StringCommands, HashCommands, ListCommands, SetCommands, ZSetCommands, PubSubCommands,
                  ScriptCommands, PersistenceCommands):
    """A single Redis instance: the engine of :class:`~simcache.sim.redis.core.RedisCore` (its arguments) with
    every command family mixed in; the replication and persistence keywords are those of
    :class:`~simcache.sim.redis.replication.ReplicationCommands` and
    :class:`~simcache.sim.redis.persistence.PersistenceCommands`."""

    # ======================================================= keyspace (db.c)
    @redis_command("DEL", -2, "write")
    def _del(self, *keys: Any) -> int:
        n = 0
        for k in keys:
            self.expire_if_needed(k)
            n += self.remove(k)
        return n

    @redis_command("UNLINK", -2, "write fast")
    def _unlink(self, *keys: Any) -> int:
        return self._del(*keys)

    @redis_command("EXISTS", -2, "readonly fast")
    def _exists(self, *keys: Any) -> int:
        return sum(self.lookup_read(k, notouch=True) is not None for k in keys)

    @redis_command("TOUCH", -2, "readonly fast")
    def _touch(self, *keys: Any) -> int:
        return sum(self.lookup_read(k) is not None for k in keys)

    @redis_command("TYPE", 2, "readonly fast")
    def _type(self, key: Any) -> str:
        obj = self.lookup_read(key, notouch=True)
        return "none" if obj is None else obj.type

    @redis_command("KEYS", 2, "readonly")
    def _keys(self, pattern: Any) -> list[Any]:
        pat = as_bytes(pattern)
        allkeys = pat == b"*"
        return [k for k in self.data if (allkeys or stringmatch(pat, as_bytes(k))) and not self.key_is_expired(k)]

    @redis_command("DBSIZE", 1, "readonly fast")
    def _dbsize(self) -> int:
        return len(self.data)

    def flush_flags(self, args: tuple[Any, ...]) -> None:
        """``getFlushCommandFlags``: only SYNC or ASYNC may follow."""
        if len(args) > 1 or (args and upper_name(args[0]) not in ("SYNC", "ASYNC")):
            raise ReplyError(SYNTAX)

    @redis_command("FLUSHALL", -1, "write")
    def _flushall(self, *args: Any) -> str:
        self.flush_flags(args)
        self.flush()
        return "OK"

    @redis_command("FLUSHDB", -1, "write")
    def _flushdb(self, *args: Any) -> str:
        self.flush_flags(args)
        self.flush()
        return "OK"

    # ========================================================= expire.c
    def expire_generic(self, key: Any, param: Any, opts: tuple[Any, ...], basetime: int, unit_ms: bool,
                       cmd: str) -> int:
        """``expireGenericCommand`` (with the NX / XX / GT / LT options of Redis 7)."""
        flags: set[bytes] = set()
        for o in opts:
            u = o.upper() if isinstance(o, bytes) else b""
            if u not in _EXPIRE_FLAGS:
                raise ReplyError(f"ERR Unsupported option {as_bytes(o).decode(errors='replace')}")
            flags.add(u)
        nx, xx, gt, lt = (f in flags for f in _EXPIRE_FLAGS)
        if (nx and xx) or (nx and gt) or (nx and lt):
            raise ReplyError("ERR NX and XX, GT or LT options at the same time are not compatible")
        if gt and lt:
            raise ReplyError("ERR GT and LT options at the same time are not compatible")
        when = parse_int(param)
        if not unit_ms:
            if when > LLONG_MAX // 1000 or when < -(-LLONG_MIN // 1000):
                raise ReplyError(f"ERR invalid expire time in '{cmd}' command")
            when *= 1000
        if when > LLONG_MAX - basetime:
            raise ReplyError(f"ERR invalid expire time in '{cmd}' command")
        when += basetime
        if self.lookup_write(key) is None:
            return 0
        if flags:
            cur = self.get_expire(key)
            if nx and cur != -1:
                return 0
            if xx and cur == -1:
                return 0
            if gt and (when <= cur or cur == -1):
                return 0
            if lt and cur != -1 and when >= cur:
                return 0
        if when <= self.mstime():  # checkAlreadyExpired
            self.remove(key)
            return 1
        self.set_expire(key, when)
        return 1

    @redis_command("EXPIRE", -3, "write fast")
    def _expire(self, key: Any, seconds: Any, *opts: Any) -> int:
        return self.expire_generic(key, seconds, opts, self.mstime(), False, "expire")

    @redis_command("PEXPIRE", -3, "write fast")
    def _pexpire(self, key: Any, ms: Any, *opts: Any) -> int:
        return self.expire_generic(key, ms, opts, self.mstime(), True, "pexpire")

    @redis_command("EXPIREAT", -3, "write fast")
    def _expireat(self, key: Any, when: Any, *opts: Any) -> int:
        return self.expire_generic(key, when, opts, 0, False, "expireat")

    @redis_command("PEXPIREAT", -3, "write fast")
    def _pexpireat(self, key: Any, when: Any, *opts: Any) -> int:
        return self.expire_generic(key, when, opts, 0, True, "pexpireat")

    def ttl_generic(self, key: Any, output_ms: bool, output_abs: bool) -> int:
        """``ttlGenericCommand``: -2 without the key, -1 without an expiry."""
        if self.lookup_read(key, notouch=True) is None:
            return -2
        when = self.get_expire(key)
        if when == -1:
            return -1
        ttl = max(when if output_abs else when - self.mstime(), 0)
        return ttl if output_ms else (ttl + 500) // 1000

    @redis_command("TTL", 2, "readonly fast")
    def _ttl(self, key: Any) -> int:
        return self.ttl_generic(key, False, False)

    @redis_command("PTTL", 2, "readonly fast")
    def _pttl(self, key: Any) -> int:
        return self.ttl_generic(key, True, False)

    @redis_command("EXPIRETIME", 2, "readonly fast")
    def _expiretime(self, key: Any) -> int:
        return self.ttl_generic(key, False, True)

    @redis_command("PEXPIRETIME", 2, "readonly fast")
    def _pexpiretime(self, key: Any) -> int:
        return self.ttl_generic(key, True, True)

    @redis_command("PERSIST", 2, "write fast")
    def _persist(self, key: Any) -> int:
        if self.lookup_write(key) is None:
            return 0
        return int(self.remove_expire(key))

    # ========================================================= server.c
    @redis_command("PING", -1, "fast sentinel")
    def _ping(self, *args: Any) -> Any:
        if len(args) > 1:
            raise ReplyError("ERR wrong number of arguments for 'ping' command")
        st = self.client_state()
        if st.subscriptions:
            self.push(st, [b"pong", args[0] if args else b""])
            return None
        return args[0] if args else "PONG"

    @redis_command("ECHO", 2, "loading stale fast")
    def _echo(self, message: Any) -> Any:
        return message

    @redis_command("TIME", 1, "loading stale fast")
    def _time(self) -> list[bytes]:
        us = round(self.unix_now() * 1e6)
        return [str(us // 1_000_000).encode(), str(us % 1_000_000).encode()]

    @redis_command("MULTI", 1, "noscript loading stale fast allow_busy")
    def _multi(self) -> str:
        st = self.client_state()
        if st.multi is not None:
            raise ReplyError("ERR MULTI calls can not be nested")
        st.multi = []
        st.multi_flags = set()
        st.dirty_exec = False
        return "OK"

    @redis_command("EXEC", 1, "noscript loading stale skip_slowlog")
    def _exec(self) -> Any:
        return self.exec_transaction(self.client_state())

    @redis_command("DISCARD", 1, "noscript loading stale fast allow_busy")
    def _discard(self) -> str:
        st = self.client_state()
        if st.multi is None:
            raise ReplyError("ERR DISCARD without MULTI")
        self.discard_transaction(st)
        return "OK"

    @redis_command("RESET", 1, "noscript loading stale fast")
    def _reset(self) -> str:
        st = self.client_state()
        self.discard_transaction(st)
        self.unsubscribe_all(st, notify=False)
        return "RESET"

    @redis_command("QUIT", -1, "allow_busy")
    def _quit(self, *args: Any) -> str:
        self.free_client(self.client_state())
        return "OK"

    # ------------------------------------------------------------- INFO
    @redis_command("INFO", -1, "loading stale sentinel")
    def _info(self, *sections: Any) -> bytes:
        wanted: list[str] = []
        for s in sections:
            name = as_bytes(s).decode(errors="replace").lower()
            if name in ("all", "everything"):
                wanted = list(INFO_SECTIONS)
                break
            wanted += list(INFO_SECTIONS) if name == "default" else [name]
        if not sections:
            wanted = list(INFO_SECTIONS)
        blocks = [self.info_section(name) for name in INFO_SECTIONS if name in wanted]
        return "\r\n".join(b for b in blocks if b).encode()

    def info_section(self, name: str) -> str:
        """One section of INFO, with Redis's field names."""
        now = self.unix_now()
        st = self.stats
        if name == "server":
            fields = {
                "redis_version": "7.0.15", "redis_mode": "standalone", "os": "simcache", "arch_bits": 64,
                "process_id": 1, "run_id": hashlib.sha1(f"{self.name}:{self.crashes}".encode()).hexdigest(),
                "tcp_port": 6379, "server_time_usec": round(now * 1e6),
                "uptime_in_seconds": int(self.env.now), "uptime_in_days": int(self.env.now // 86400),
                "hz": self.hz, "configured_hz": self.hz, "lru_clock": int(now) & ((1 << 24) - 1),
                "io_threads_active": int(self.io_threads > 1)}
        elif name == "clients":
            fields = {"connected_clients": len(self.clients), "cluster_connections": 0, "maxclients": 10000,
                      "blocked_clients": len(self.blocked_clients), "tracking_clients": 0,
                      "clients_in_timeout_table": sum(1 for b in self.blocked_clients if b.deadline)}
        elif name == "memory":
            used = self.used_memory
            fields = {"used_memory": used, "used_memory_human": bytes_to_human(used),
                      "used_memory_peak": self.used_memory_peak,
                      "used_memory_peak_human": bytes_to_human(self.used_memory_peak),
                      "used_memory_startup": self.baseline_memory,
                      "used_memory_dataset": used - self.baseline_memory,
                      "number_of_cached_scripts": len(self.scripts),
                      "maxmemory": self.maxmemory, "maxmemory_human": bytes_to_human(self.maxmemory),
                      "maxmemory_policy": self.maxmemory_policy}
        elif name == "persistence":
            fields = self.persistence_info()
        elif name == "stats":
            fields = {"total_connections_received": st["total_connections_received"],
                      "total_commands_processed": st["total_commands_processed"],
                      "instantaneous_ops_per_sec": self.instantaneous_ops_per_sec, "rejected_connections": 0,
                      "expired_keys": st["expired_keys"],
                      "expired_stale_perc": f"{self.expired_stale_perc * 100:.2f}",
                      "expired_time_cap_reached_count": st["expired_time_cap_reached_count"],
                      "evicted_keys": st["evicted_keys"], "keyspace_hits": st["keyspace_hits"],
                      "keyspace_misses": st["keyspace_misses"], "pubsub_channels": len(self.pubsub_channels),
                      "pubsub_patterns": len(self.pubsub_patterns),
                      "total_error_replies": st["total_error_replies"]}
        elif name == "replication":
            fields = self.replication_info()
        elif name == "cpu":
            fields = {"used_cpu_sys": "0.000000", "used_cpu_user": f"{self.busy_time:.6f}"}
        elif name == "cluster":
            fields = {"cluster_enabled": 0}
        elif name == "keyspace":
            if not self.data:
                return "# Keyspace\r\n"
            fields = {"db0": f"keys={len(self.data)},expires={len(self.expires)},avg_ttl={self.avg_ttl}"}
        else:
            return ""
        title = "CPU" if name == "cpu" else name.capitalize()
        return f"# {title}\r\n" + "".join(f"{k}:{v}\r\n" for k, v in fields.items())

    # ----------------------------------------------------------- CONFIG
    def config_values(self) -> dict[str, str]:
        """The configuration parameters the model has, as CONFIG GET shows them."""
        pol = self.policy
        return {"maxmemory": str(self.maxmemory), "maxmemory-policy": self.maxmemory_policy,
                "maxmemory-samples": str(self.maxmemory_samples),
                "lfu-log-factor": str(getattr(pol, "lfu_log_factor", 10)),
                "lfu-decay-time": str(getattr(pol, "lfu_decay_time", 1)), "hz": str(self.hz),
                **self.repl_config_values()}

    @redis_command("CONFIG|GET", -3, "admin noscript loading stale")
    def _config_get(self, *patterns: Any) -> list[bytes]:
        out: list[bytes] = []
        seen: set[str] = set()
        values = self.config_values()
        for p in patterns:
            pat = as_bytes(p)
            for k, v in values.items():
                if k not in seen and stringmatch(pat, k.encode(), nocase=True):
                    seen.add(k)
                    out += [k.encode(), v.encode()]
        return out

    @redis_command("CONFIG|SET", -4, "admin noscript loading stale")
    def _config_set(self, *pairs: Any) -> str:
        if len(pairs) % 2:
            raise ReplyError(SYNTAX)
        names = [as_bytes(n).decode(errors="replace") for n in pairs[::2]]
        values = list(pairs[1::2])
        known = self.config_values()
        for n in names:
            if n.lower() not in known and n.lower() not in self.REPL_CONFIG:
                raise ReplyError(f"ERR Unknown option or number of arguments for CONFIG SET - '{n}'")
        seen: set[str] = set()
        new: dict[str, Any] = {}
        for n, v in zip(names, values, strict=True):
            key = n.lower()
            if key in seen:
                raise ReplyError(f"ERR CONFIG SET failed (possibly related to argument '{n}') - duplicate parameter")
            seen.add(key)
            new[key] = self._config_value(key, v)
        for key, v in new.items():
            if key in self.REPL_CONFIG:
                try:
                    self.set_repl_config(key, v)
                except ValueError as err:
                    raise ReplyError(f"ERR CONFIG SET failed (possibly related to argument '{key}') - {err}") from None
        if "maxmemory-policy" in new and new["maxmemory-policy"] != self.maxmemory_policy:
            self._make_policy(new["maxmemory-policy"])
        if "maxmemory-samples" in new:
            self.maxmemory_samples = new["maxmemory-samples"]
            if hasattr(self.policy, "maxmemory_samples"):
                self.policy.maxmemory_samples = self.maxmemory_samples
        for attr in ("lfu-log-factor", "lfu-decay-time"):
            if attr in new and hasattr(self.policy, attr.replace("-", "_")):
                setattr(self.policy, attr.replace("-", "_"), new[attr])
        if "hz" in new:
            self.hz = min(max(new["hz"], 1), 500)
        if "maxmemory" in new and new["maxmemory"] != self.maxmemory:
            self.maxmemory = new["maxmemory"]
            if not isinstance(self.policy, RedisPolicy):
                self._make_policy(self.maxmemory_policy)  # an exact model is rebuilt at its new capacity
            self.perform_evictions()  # startEvictionTimeProc: evict now rather than at the next command
        return "OK"

    def _config_value(self, key: str, v: Any) -> Any:
        def fail(why: str) -> ReplyError:
            return ReplyError(f"ERR CONFIG SET failed (possibly related to argument '{key}') - {why}")

        if key in self.REPL_CONFIG:
            return v
        if key == "maxmemory":
            n = memtoull(v)
            if n is None:
                raise fail("argument must be a memory value")
            return n
        if key == "maxmemory-policy":
            name = as_bytes(v).decode(errors="replace").lower()
            if name not in MAXMEMORY_POLICIES:
                raise fail("argument(s) must be one of the following: " + ", ".join(MAXMEMORY_POLICIES))
            return name
        lo = 1 if key == "maxmemory-samples" else 0
        n2 = string2ll(v)
        if n2 is None:
            raise fail("argument couldn't be parsed into an integer")
        if not lo <= n2 <= _INT_MAX:
            raise fail(f"argument must be between {lo} and {_INT_MAX} inclusive")
        return n2

    @redis_command("CONFIG|RESETSTAT", 2, "admin noscript loading stale")
    def _config_resetstat(self) -> str:
        for k in self.stats:
            self.stats[k] = 0
        self.used_memory_peak = self.used_memory
        return "OK"
