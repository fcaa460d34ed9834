"""A redis-py-like client for the simulated Redis: same method names, arguments and return values.

Every command method returns a generator to run inside a SimPy process::

    r = Redis(world, host=app, server=redis_server, socket_timeout=0.5)

    def handler():
        yield from r.set("k", "v", nx=True, ex=30)   # True, or None when the key exists
        value = yield from r.get("k")                 # b"v"
        pipe = r.pipeline()
        pipe.zadd("z", {"a": 1.0}).zcount("z", "-inf", "+inf")
        added, count = yield from pipe.execute()

Arguments are encoded as redis-py's ``Encoder`` does (str -> UTF-8 bytes,
int/float -> their ``repr``, bytes unchanged; a bool is a ``DataError``); a
simulation :class:`~simcache.sim.oracle.Value` passes through as an opaque
value.  Replies become what redis-py's RESP2 parser gives (status replies
and bulk strings as bytes, or str with ``decode_responses=True``) and then
go through redis-py's response callbacks (``SET`` -> True/None, ``EXPIRE``
-> bool, ``HGETALL`` -> dict, ``SMEMBERS`` -> set, ``BRPOP`` -> tuple or
None, ``ZRANGE ... WITHSCORES`` -> list of (member, float) ...).  Error
replies raise what redis-py raises: the message without its ``ERR`` code, and
a subclass for ``EXECABORT``, ``NOSCRIPT``, ``OOM``, ``READONLY``,
``MOVED``... (:func:`parse_error`).  Client-side checks that redis-py makes
before sending (``DataError`` for SET's exclusive options, ZADD's ...) are
made here with the same messages.

Routing is pluggable: a :class:`Router` picks the server for each command
(:class:`SingleNode` here; replica, Sentinel and Cluster routers plug in the
same way) and hears about connection errors (to rediscover a master) and
error replies (to follow a ``MOVED``; it sees the full error text).
Connection pools and retries follow redis-py:
:class:`~simcache.sim.pool.ConnectionPool` (fail at once when
``max_connections`` are in use) or
:class:`~simcache.sim.pool.BlockingConnectionPool` (wait up to its timeout),
and ``Retry(backoff, retries)`` retrying connection errors and timeouts.
"""

from __future__ import annotations

import datetime
import textwrap
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simcache.errors import UsageError
from simcache.sim.oracle import Value
from simcache.sim.pool import BlockingConnectionPool, Connection, ConnectionPool
from simcache.sim.redis.scripting import SCRIPTS, python_body, register_lua, sha1hex
from simcache.sim.rpc import ConnectionError, Deadlines, RemoteError, ResponseError, TimeoutError, call, send
from simcache.sim.server import Server

if TYPE_CHECKING:
    from simcache.sim.component import Component
    from simcache.sim.world import World

Gen = Generator[simpy.Event, Any, Any]

__all__ = ["SCRIPTS", "register_lua"]

#: an option that makes a command answer without being sent (redis-py's ``EMPTY_RESPONSE``)
EMPTY_RESPONSE = "EMPTY_RESPONSE"


# ------------------------------------------------------------------- errors
class DataError(RemoteError):
    """An argument redis-py would refuse to send (redis-py ``DataError``)."""


class WatchError(RemoteError):
    """A watched key changed before EXEC (redis-py ``WatchError``)."""


class ExecAbortError(ResponseError):
    """EXECABORT: the transaction was discarded."""


class NoScriptError(ResponseError):
    """NOSCRIPT: the server has no script with that SHA."""


class OutOfMemoryError(ResponseError):
    """OOM: a denyoom command was refused over ``maxmemory``."""


class ReadOnlyError(ResponseError):
    """READONLY: a write sent to a read-only replica."""


class NoPermissionError(ResponseError):
    """NOPERM."""


class TryAgainError(ResponseError):
    """TRYAGAIN (Cluster, during resharding)."""


class ClusterCrossSlotError(ResponseError):
    """CROSSSLOT: keys of one command in different hash slots."""


class ClusterDownError(ResponseError):
    """CLUSTERDOWN."""


class MasterDownError(ClusterDownError):
    """MASTERDOWN: a replica lost its master (``replica-serve-stale-data no``)."""


class AskError(ResponseError):
    """ASK slot host:port (Cluster); ``slot_id``, ``host``, ``port`` parsed as redis-py does."""

    def __init__(self, resp: str) -> None:
        super().__init__(resp)
        slot_id, new_node = resp.split(" ")
        host, port = new_node.rsplit(":", 1)
        self.slot_id = int(slot_id)
        self.node_addr = self.host, self.port = host, int(port)


class MovedError(AskError):
    """MOVED slot host:port (Cluster)."""


class BusyLoadingError(ConnectionError):
    """LOADING: the server is loading its dataset."""


#: error code -> exception class (redis-py ``_parsers/base.py`` ``EXCEPTION_CLASSES``)
EXCEPTION_CLASSES: dict[str, type[RemoteError]] = {
    "ERR": ResponseError, "OOM": OutOfMemoryError, "EXECABORT": ExecAbortError, "LOADING": BusyLoadingError,
    "NOSCRIPT": NoScriptError, "READONLY": ReadOnlyError, "NOPERM": NoPermissionError, "ASK": AskError,
    "TRYAGAIN": TryAgainError, "MOVED": MovedError, "CLUSTERDOWN": ClusterDownError,
    "CROSSSLOT": ClusterCrossSlotError, "MASTERDOWN": MasterDownError,
}


def parse_error(text: str) -> RemoteError:
    """The exception redis-py raises for an error reply (``BaseParser.parse_error``)."""
    code = text.split(" ")[0]
    cls = EXCEPTION_CLASSES.get(code)
    if cls is None:
        return ResponseError(text)
    err = cls(text[len(code) + 1:])
    err.status_code = code  # type: ignore[attr-defined]
    return err


def encode(value: Any) -> Any:
    """Encode one argument as redis-py's ``Encoder.encode`` does (a Value passes through)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        raise DataError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
    if isinstance(value, int | float):
        return repr(value).encode()
    if isinstance(value, Value | memoryview | bytearray):
        return value
    raise DataError(f"Invalid input of type: '{type(value).__name__}'. Convert to a bytes, string, int or float "
                    "first.")


def list_or_args(keys: Any, args: Iterable[Any] | None) -> list[Any]:
    """redis-py's ``list_or_args``: one list from a key or a list of keys, plus more."""
    try:
        iter(keys)
        out = [keys] if isinstance(keys, bytes | str | bytearray | memoryview) else list(keys)
    except TypeError:
        out = [keys]
    if args:
        out.extend(args)
    return out


# ---------------------------------------------------------------- backoff
class NoBackoff:
    """No wait between retries (redis-py ``NoBackoff``)."""

    def compute(self, failures: int, rng: np.random.Generator) -> float:
        return 0.0


class ConstantBackoff(NoBackoff):
    """The same wait every time."""

    def __init__(self, backoff: float) -> None:
        self.backoff = backoff

    def compute(self, failures: int, rng: np.random.Generator) -> float:
        return self.backoff


class ExponentialBackoff(NoBackoff):
    """``min(cap, base * 2**failures)`` (redis-py ``ExponentialBackoff``)."""

    def __init__(self, cap: float = 0.512, base: float = 0.008) -> None:
        self.cap = cap
        self.base = base

    def compute(self, failures: int, rng: np.random.Generator) -> float:
        return min(self.cap, self.base * 2**failures)


class FullJitterBackoff(ExponentialBackoff):
    """Uniform in ``[0, min(cap, base * 2**failures)]`` (redis-py ``FullJitterBackoff``)."""

    def compute(self, failures: int, rng: np.random.Generator) -> float:
        return float(rng.uniform(0, min(self.cap, self.base * 2**failures)))


class EqualJitterBackoff(ExponentialBackoff):
    """Half the exponential wait plus a uniform draw over the other half (redis-py ``EqualJitterBackoff``)."""

    def compute(self, failures: int, rng: np.random.Generator) -> float:
        t = min(self.cap, self.base * 2**failures) / 2
        return t + float(rng.uniform(0, t))


class Retry:
    """Retry connection errors and timeouts ``retries`` times, waiting ``backoff.compute(failures)`` between."""

    def __init__(self, backoff: NoBackoff | None = None, retries: int = 1) -> None:
        if int(retries) != retries or retries < 0:
            raise UsageError(f"retries must be an integer >= 0, got {retries!r}")
        self.backoff = backoff or NoBackoff()
        self.retries = int(retries)


# ----------------------------------------------------------------- routing
class Router:
    """Picks the server for each command; hears about failures.  Subclass and override what you need."""

    #: True when the client must run :meth:`resolve` before it picks a server (a Sentinel-managed client
    #: that has not asked where the master is since its connection failed)
    stale = False

    def resolve(self) -> Generator[simpy.Event, Any, None]:
        """Find the servers again (a Sentinel router asks the sentinels); run while :attr:`stale` is True."""
        return
        yield  # pragma: no cover - makes this a generator

    def target(self, args: tuple[Any, ...]) -> Server:
        """The server that should run ``args`` (command name first)."""
        raise NotImplementedError

    def targets(self, stack: list[tuple[Any, ...]]) -> Server:
        """The server for a pipeline (default: the first command's)."""
        return self.target(stack[0])

    def failed(self, server: Server, err: Exception) -> None:
        """A call to ``server`` failed with a connection error or a timeout."""

    def redirected(self, server: Server, err: ResponseError) -> Server | None:
        """An error reply from ``server`` (its full text): the server to retry on (a MOVED), or None to raise it."""
        return None

    def prelude(self, server: Server) -> tuple[Any, ...] | None:
        """A command to send to ``server`` on the same connection just before the next one (Cluster's ASKING)."""
        return None

    def retry_wait(self, err: ResponseError) -> float:
        """Seconds to wait before retrying after the redirected error reply ``err`` (TRYAGAIN, CLUSTERDOWN)."""
        return 0.0


class SingleNode(Router):
    """Every command goes to one server."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def target(self, args: tuple[Any, ...]) -> Server:
        return self.server


#: commands a :class:`ReplicaReads` router sends to a replica (everything else goes to the master)
READ_COMMANDS = frozenset(n.encode() for n in (
    "GET MGET STRLEN GETRANGE EXISTS TYPE TTL PTTL EXPIRETIME PEXPIRETIME DBSIZE KEYS HGET HMGET HGETALL HKEYS "
    "HVALS HLEN HEXISTS LRANGE LLEN LINDEX SMEMBERS SISMEMBER SMISMEMBER SCARD SINTER SUNION SDIFF ZRANGE "
    "ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZCOUNT ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK").split())


class ReplicaReads(Router):
    """Reads go to the replicas (round-robin, or uniformly at random), everything else to the master.

    Args:
        master: the server writes go to.
        replicas: the servers reads go to.
        mode: ``"round-robin"`` or ``"random"``.
        rng: the random stream for ``"random"`` (e.g. ``world.rng("NAME:replica-reads")``).
    """

    def __init__(self, master: Server, replicas: list[Server], mode: str = "round-robin",
                 rng: np.random.Generator | None = None) -> None:
        if not replicas:
            raise UsageError("ReplicaReads needs at least one replica")
        if mode not in ("round-robin", "random"):
            raise UsageError(f"ReplicaReads mode must be 'round-robin' or 'random', got {mode!r}")
        if mode == "random" and rng is None:
            raise UsageError("ReplicaReads mode 'random' needs an rng (world.rng(...))")
        self.master = master
        self.replicas = list(replicas)
        self.mode = mode
        self.rng = rng
        self._next = 0

    def target(self, args: tuple[Any, ...]) -> Server:
        name = args[0] if isinstance(args[0], bytes) else encode(args[0])
        if name.upper() not in READ_COMMANDS:
            return self.master
        if self.mode == "random":
            assert self.rng is not None
            return self.replicas[int(self.rng.integers(len(self.replicas)))]
        r = self.replicas[self._next % len(self.replicas)]
        self._next += 1
        return r


# ------------------------------------------------------ response callbacks
def str_if_bytes(value: Any) -> Any:
    """redis-py's ``str_if_bytes``."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def bool_ok(r: Any, **_: Any) -> bool:
    """redis-py's ``bool_ok``."""
    return bool(str_if_bytes(r) == "OK")


def _bool(r: Any, **_: Any) -> bool:
    return bool(r)


def parse_set_result(r: Any, **options: Any) -> Any:
    """redis-py's ``parse_set_result``: the old value with GET, else True, or None when NX/XX prevented it."""
    if options.get("get"):
        return r
    return r and str_if_bytes(r) == "OK"


def pairs_to_dict(r: Any) -> dict[Any, Any]:
    """redis-py's ``pairs_to_dict``."""
    if r is None:
        return {}
    it = iter(r)
    return dict(zip(it, it, strict=False))


def parse_info(response: Any, **_: Any) -> dict[str, Any]:
    """redis-py's ``parse_info``."""
    info: dict[str, Any] = {}
    response = str_if_bytes(response)

    def get_value(value: str) -> Any:
        if "," not in value and "=" not in value:
            try:
                return float(value) if "." in value else int(value)
            except ValueError:
                return value
        if "=" not in value:
            return [get_value(v) for v in value.split(",") if v]
        sub: dict[str, Any] = {}
        for item in value.split(","):
            if not item:
                continue
            if "=" in item:
                k, v = item.rsplit("=", 1)
                sub[k] = get_value(v)
            else:
                sub[item] = True
        return sub

    for line in response.splitlines():
        if line and not line.startswith("#"):
            if ":" in line:
                key, value = line.split(":", 1)
                info[key] = get_value(value)
            else:
                info.setdefault("__raw__", []).append(line)
    return info


def zset_score_pairs(r: Any, **options: Any) -> Any:
    """redis-py's ``zset_score_pairs``: (member, score) pairs with ``withscores``."""
    if not r or not options.get("withscores"):
        return r
    cast = options.get("score_cast_func", float)
    if cast is not float:
        inner = cast

        def cast(x: Any) -> Any:
            try:
                return inner(x)
            except (ValueError, TypeError):
                return inner(float(x))

    it = iter(r)
    return list(zip(it, map(cast, it), strict=False))


def parse_zadd(r: Any, **options: Any) -> Any:
    """redis-py's ``parse_zadd``."""
    if r is None:
        return None
    return float(r) if options.get("as_score") else int(r)


def float_or_none(r: Any, **_: Any) -> Any:
    """redis-py's ``float_or_none``."""
    return None if r is None else float(r)


#: command name -> parser of its reply (redis-py's RESP2 ``_RedisCallbacks`` + ``_RedisCallbacksRESP2``)
RESPONSE_CALLBACKS: dict[str, Callable[..., Any]] = {
    **dict.fromkeys("EXPIRE EXPIREAT HEXISTS HMSET MSETNX PERSIST PSETEX PEXPIRE PEXPIREAT SETEX SETNX".split(),
                    _bool),
    **dict.fromkeys("FLUSHALL FLUSHDB LSET LTRIM MSET QUIT".split(), bool_ok),
    "CONFIG RESETSTAT": bool_ok,
    "CONFIG SET": bool_ok,
    "CONFIG GET": lambda r, **_: pairs_to_dict([str_if_bytes(i) for i in r]) if r else {},
    "INFO": parse_info,
    "PING": lambda r, **_: str_if_bytes(r) == "PONG",
    "RESET": lambda r, **_: str_if_bytes(r),
    "SET": parse_set_result,
    "SCRIPT EXISTS": lambda r, **_: list(map(bool, r)),
    "SCRIPT FLUSH": bool_ok,
    "SCRIPT LOAD": lambda r, **_: str_if_bytes(r),
    "TIME": lambda r, **_: (int(r[0]), int(r[1])),
    "PUBSUB NUMSUB": lambda r, **_: list(zip(r[0::2], r[1::2], strict=False)),
    **dict.fromkeys("SDIFF SINTER SMEMBERS SUNION".split(), lambda r, **_: r and set(r) or set()),
    **dict.fromkeys("ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE".split(), zset_score_pairs),
    **dict.fromkeys("ZINCRBY ZSCORE".split(), float_or_none),
    **dict.fromkeys("BLPOP BRPOP".split(), lambda r, **_: r and tuple(r) or None),
    "HGETALL": lambda r, **_: r and pairs_to_dict(r) or {},
    "ZADD": parse_zadd,
    "ZMSCORE": lambda r, **_: [None if s is None else float(s) for s in r],
    "SLAVEOF": bool_ok,
}


_NAMES: dict[Any, tuple[str, tuple[Any, ...]]] = {}


def _name_parts(first: Any) -> tuple[str, tuple[Any, ...]]:
    """A command name's callback key (``"CONFIG GET"``) and its words on the wire (cached)."""
    got = _NAMES.get(first)
    if got is None:
        text = first.decode(errors="replace") if isinstance(first, bytes) else str(first)
        words = tuple(w.encode() for w in text.split()) if " " in text else (encode(first),)
        got = _NAMES[first] = (text.upper(), words)
    return got


def _command_name(first: Any) -> str:
    return _name_parts(first)[0]


def _wire(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The command as sent: a ``"CONFIG GET"``-style name split in two, every argument encoded."""
    return _name_parts(args[0])[1] + tuple(map(encode, args[1:]))


_BLOCKING = frozenset({b"BLPOP", b"BRPOP", b"blpop", b"brpop"})


def _blocking(cmd: Any, batch: bool) -> bool:
    """Whether a command (or any of a batch) may block on the server."""
    cmds = cmd if batch else [cmd]
    return any(c and c[0] in _BLOCKING for c in cmds)


def safe_str(v: Any) -> str:
    """redis-py's ``safe_str``."""
    return str(str_if_bytes(v))


def annotate(err: Exception, number: int, command: tuple[Any, ...]) -> Exception:
    """redis-py's ``Pipeline.annotate_exception``: say which command of a pipeline failed."""
    cmd = " ".join(map(safe_str, command))
    cmd = textwrap.shorten(cmd, width=100, placeholder="...", break_long_words=True)
    err.args = (f"Command # {number} ({cmd}) of pipeline caused error: {err.args[0]}", *err.args[1:])
    return err


class Commands:
    """The command methods, shared by :class:`Redis` (runs them) and :class:`Pipeline` (queues them)."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        raise NotImplementedError

    # ---------------------------------------------------------- server
    def ping(self, message: Any = None) -> Any:
        """PING: True when the server answers PONG."""
        return self.execute_command("PING", *(() if message is None else (message,)))

    def echo(self, value: Any) -> Any:
        """ECHO value."""
        return self.execute_command("ECHO", value)

    def time(self) -> Any:
        """TIME: (seconds, microseconds)."""
        return self.execute_command("TIME")

    def info(self, section: Any = None, *args: Any) -> Any:
        """INFO [section ...], parsed into a dict."""
        if section is None:
            return self.execute_command("INFO")
        return self.execute_command("INFO", section, *args)

    def config_get(self, pattern: Any = "*", *args: Any) -> Any:
        """CONFIG GET pattern [pattern ...], as a dict of str."""
        return self.execute_command("CONFIG GET", pattern, *args)

    def config_set(self, name: Any, value: Any, *args: Any) -> Any:
        """CONFIG SET name value [name value ...]."""
        return self.execute_command("CONFIG SET", name, value, *args)

    def config_resetstat(self) -> Any:
        """CONFIG RESETSTAT."""
        return self.execute_command("CONFIG RESETSTAT")

    def dbsize(self) -> Any:
        """DBSIZE: keys in the database."""
        return self.execute_command("DBSIZE")

    def flushall(self, asynchronous: bool = False) -> Any:
        """FLUSHALL [ASYNC]."""
        return self.execute_command("FLUSHALL", *((b"ASYNC",) if asynchronous else ()))

    def flushdb(self, asynchronous: bool = False) -> Any:
        """FLUSHDB [ASYNC]."""
        return self.execute_command("FLUSHDB", *((b"ASYNC",) if asynchronous else ()))

    # -------------------------------------------------------- keyspace
    def delete(self, *names: Any) -> Any:
        """DEL name [name ...]: how many keys were removed."""
        return self.execute_command("DEL", *names)

    def unlink(self, *names: Any) -> Any:
        """UNLINK name [name ...]."""
        return self.execute_command("UNLINK", *names)

    def exists(self, *names: Any) -> Any:
        """EXISTS name [name ...]: how many of them exist."""
        return self.execute_command("EXISTS", *names)

    def touch(self, *args: Any) -> Any:
        """TOUCH key [key ...]."""
        return self.execute_command("TOUCH", *args)

    def type(self, name: Any) -> Any:
        """TYPE name: b"string", b"list", ... or b"none"."""
        return self.execute_command("TYPE", name)

    def keys(self, pattern: Any = "*") -> Any:
        """KEYS pattern (Redis's glob)."""
        return self.execute_command("KEYS", pattern)

    @staticmethod
    def _expire_opts(nx: bool, xx: bool, gt: bool, lt: bool) -> list[str]:
        return [o for o, on in (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt)) if on]

    def expire(self, name: Any, time: Any, nx: bool = False, xx: bool = False, gt: bool = False,
               lt: bool = False) -> Any:
        """EXPIRE name seconds [NX|XX|GT|LT]: whether the timeout was set."""
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds())
        return self.execute_command("EXPIRE", name, time, *self._expire_opts(nx, xx, gt, lt))

    def pexpire(self, name: Any, time: Any, nx: bool = False, xx: bool = False, gt: bool = False,
                lt: bool = False) -> Any:
        """PEXPIRE name milliseconds [NX|XX|GT|LT]."""
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds() * 1000)
        return self.execute_command("PEXPIRE", name, time, *self._expire_opts(nx, xx, gt, lt))

    def expireat(self, name: Any, when: Any, nx: bool = False, xx: bool = False, gt: bool = False,
                 lt: bool = False) -> Any:
        """EXPIREAT name unix-seconds [NX|XX|GT|LT]."""
        return self.execute_command("EXPIREAT", name, when, *self._expire_opts(nx, xx, gt, lt))

    def pexpireat(self, name: Any, when: Any, nx: bool = False, xx: bool = False, gt: bool = False,
                  lt: bool = False) -> Any:
        """PEXPIREAT name unix-milliseconds [NX|XX|GT|LT]."""
        return self.execute_command("PEXPIREAT", name, when, *self._expire_opts(nx, xx, gt, lt))

    def ttl(self, name: Any) -> Any:
        """TTL name: seconds to live, -1 without expiry, -2 when absent."""
        return self.execute_command("TTL", name)

    def pttl(self, name: Any) -> Any:
        """PTTL name: milliseconds to live, -1 without expiry, -2 when absent."""
        return self.execute_command("PTTL", name)

    def expiretime(self, key: Any) -> Any:
        """EXPIRETIME key: the unix second the key expires at."""
        return self.execute_command("EXPIRETIME", key)

    def persist(self, name: Any) -> Any:
        """PERSIST name: whether an expiry was removed."""
        return self.execute_command("PERSIST", name)

    # --------------------------------------------------------- strings
    def get(self, name: Any) -> Any:
        """GET name: the value (bytes), or None."""
        return self.execute_command("GET", name)

    def set(self, name: Any, value: Any, ex: Any = None, px: Any = None, nx: bool = False, xx: bool = False,
            keepttl: bool = False, get: bool = False, exat: Any = None, pxat: Any = None) -> Any:
        """SET name value [NX|XX] [GET] [EX|PX|EXAT|PXAT] [KEEPTTL]: True, or None when NX/XX prevented it."""
        if sum((ex is not None, px is not None, exat is not None, pxat is not None, bool(keepttl))) > 1:
            raise DataError("``ex``, ``px``, ``exat``, ``pxat``, and ``keepttl`` are mutually exclusive.")
        if nx and xx:
            raise DataError("``nx``, ``xx``, ``ifeq``, ``ifne``, ``ifdeq``, ``ifdne`` are mutually exclusive.")
        pieces: list[Any] = [name, value]
        options: dict[str, Any] = {}
        if nx:
            pieces.append("NX")
        elif xx:
            pieces.append("XX")
        if get:
            pieces.append("GET")
            options["get"] = True
        if ex is not None:
            if isinstance(ex, datetime.timedelta):
                ex = int(ex.total_seconds())
            elif isinstance(ex, str) and ex.isdigit():
                ex = int(ex)
            elif not isinstance(ex, int):
                raise DataError("ex must be datetime.timedelta or int")
            pieces += ["EX", ex]
        elif px is not None:
            if isinstance(px, datetime.timedelta):
                px = int(px.total_seconds() * 1000)
            elif not isinstance(px, int):
                raise DataError("px must be datetime.timedelta or int")
            pieces += ["PX", px]
        elif exat is not None:
            pieces += ["EXAT", int(exat.timestamp()) if isinstance(exat, datetime.datetime) else exat]
        elif pxat is not None:
            pieces += ["PXAT", int(pxat.timestamp() * 1000) if isinstance(pxat, datetime.datetime) else pxat]
        if keepttl:
            pieces.append("KEEPTTL")
        return self.execute_command("SET", *pieces, **options)

    def setex(self, name: Any, time: Any, value: Any) -> Any:
        """SETEX name seconds value."""
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds())
        return self.execute_command("SETEX", name, time, value)

    def psetex(self, name: Any, time_ms: Any, value: Any) -> Any:
        """PSETEX name milliseconds value."""
        if isinstance(time_ms, datetime.timedelta):
            time_ms = int(time_ms.total_seconds() * 1000)
        return self.execute_command("PSETEX", name, time_ms, value)

    def setnx(self, name: Any, value: Any) -> Any:
        """SETNX name value: whether it was set."""
        return self.execute_command("SETNX", name, value)

    def getset(self, name: Any, value: Any) -> Any:
        """GETSET name value: the old value."""
        return self.execute_command("GETSET", name, value)

    def getdel(self, name: Any) -> Any:
        """GETDEL name."""
        return self.execute_command("GETDEL", name)

    def strlen(self, name: Any) -> Any:
        """STRLEN name."""
        return self.execute_command("STRLEN", name)

    def mget(self, keys: Any, *args: Any) -> Any:
        """MGET keys: a list of values (None where missing or not a string)."""
        names = list_or_args(keys, args)
        options: dict[str, Any] = {} if names else {EMPTY_RESPONSE: []}
        return self.execute_command("MGET", *names, **options)

    def mset(self, mapping: Mapping[Any, Any]) -> Any:
        """MSET from a mapping: True."""
        items: list[Any] = []
        for pair in mapping.items():
            items.extend(pair)
        return self.execute_command("MSET", *items)

    def msetnx(self, mapping: Mapping[Any, Any]) -> Any:
        """MSETNX from a mapping: whether all were set."""
        items: list[Any] = []
        for pair in mapping.items():
            items.extend(pair)
        return self.execute_command("MSETNX", *items)

    def incrby(self, name: Any, amount: Any = 1) -> Any:
        """INCRBY name amount (redis-py's ``incr`` sends this too)."""
        return self.execute_command("INCRBY", name, amount)

    incr = incrby

    def decrby(self, name: Any, amount: Any = 1) -> Any:
        """DECRBY name amount (redis-py's ``decr`` sends this too)."""
        return self.execute_command("DECRBY", name, amount)

    decr = decrby

    # ---------------------------------------------------------- hashes
    def hset(self, name: Any, key: Any = None, value: Any = None, mapping: Mapping[Any, Any] | None = None,
             items: list[Any] | None = None) -> Any:
        """HSET name field value / mapping / items: how many fields were new."""
        if key is None and not mapping and not items:
            raise DataError("'hset' with no key value pairs")
        pieces: list[Any] = []
        if items:
            pieces.extend(items)
        if key is not None:
            pieces.extend((key, value))
        if mapping:
            for pair in mapping.items():
                pieces.extend(pair)
        return self.execute_command("HSET", name, *pieces)

    def hsetnx(self, name: Any, key: Any, value: Any) -> Any:
        """HSETNX name field value."""
        return self.execute_command("HSETNX", name, key, value)

    def hget(self, name: Any, key: Any) -> Any:
        """HGET name field."""
        return self.execute_command("HGET", name, key)

    def hmget(self, name: Any, keys: Any, *args: Any) -> Any:
        """HMGET name fields."""
        return self.execute_command("HMGET", name, *list_or_args(keys, args))

    def hgetall(self, name: Any) -> Any:
        """HGETALL name: a dict."""
        return self.execute_command("HGETALL", name)

    def hkeys(self, name: Any) -> Any:
        """HKEYS name."""
        return self.execute_command("HKEYS", name)

    def hvals(self, name: Any) -> Any:
        """HVALS name."""
        return self.execute_command("HVALS", name)

    def hdel(self, name: Any, *keys: Any) -> Any:
        """HDEL name field [field ...]."""
        return self.execute_command("HDEL", name, *keys)

    def hlen(self, name: Any) -> Any:
        """HLEN name."""
        return self.execute_command("HLEN", name)

    def hexists(self, name: Any, key: Any) -> Any:
        """HEXISTS name field: a bool."""
        return self.execute_command("HEXISTS", name, key)

    def hincrby(self, name: Any, key: Any, amount: Any = 1) -> Any:
        """HINCRBY name field amount."""
        return self.execute_command("HINCRBY", name, key, amount)

    # ----------------------------------------------------------- lists
    def lpush(self, name: Any, *values: Any) -> Any:
        """LPUSH name value [value ...]: the new length."""
        return self.execute_command("LPUSH", name, *values)

    def rpush(self, name: Any, *values: Any) -> Any:
        """RPUSH name value [value ...]: the new length."""
        return self.execute_command("RPUSH", name, *values)

    def lpushx(self, name: Any, *values: Any) -> Any:
        """LPUSHX name value [value ...]."""
        return self.execute_command("LPUSHX", name, *values)

    def rpushx(self, name: Any, *values: Any) -> Any:
        """RPUSHX name value [value ...]."""
        return self.execute_command("RPUSHX", name, *values)

    def lpop(self, name: Any, count: int | None = None) -> Any:
        """LPOP name [count]."""
        return self.execute_command("LPOP", name, *(() if count is None else (count,)))

    def rpop(self, name: Any, count: int | None = None) -> Any:
        """RPOP name [count]."""
        return self.execute_command("RPOP", name, *(() if count is None else (count,)))

    def lrange(self, name: Any, start: Any, end: Any) -> Any:
        """LRANGE name start end."""
        return self.execute_command("LRANGE", name, start, end)

    def llen(self, name: Any) -> Any:
        """LLEN name."""
        return self.execute_command("LLEN", name)

    def lindex(self, name: Any, index: Any) -> Any:
        """LINDEX name index."""
        return self.execute_command("LINDEX", name, index)

    def ltrim(self, name: Any, start: Any, end: Any) -> Any:
        """LTRIM name start end."""
        return self.execute_command("LTRIM", name, start, end)

    def blpop(self, keys: Any, timeout: Any = 0) -> Any:
        """BLPOP keys timeout: (key, value), or None on timeout (0 waits forever)."""
        names = list_or_args(keys, None)
        names.append(0 if timeout is None else timeout)
        return self.execute_command("BLPOP", *names)

    def brpop(self, keys: Any, timeout: Any = 0) -> Any:
        """BRPOP keys timeout: (key, value), or None on timeout (0 waits forever)."""
        names = list_or_args(keys, None)
        names.append(0 if timeout is None else timeout)
        return self.execute_command("BRPOP", *names)

    # ------------------------------------------------------------ sets
    def sadd(self, name: Any, *values: Any) -> Any:
        """SADD name member [member ...]: how many were new."""
        return self.execute_command("SADD", name, *values)

    def srem(self, name: Any, *values: Any) -> Any:
        """SREM name member [member ...]."""
        return self.execute_command("SREM", name, *values)

    def smembers(self, name: Any) -> Any:
        """SMEMBERS name: a set."""
        return self.execute_command("SMEMBERS", name)

    def sinter(self, keys: Any, *args: Any) -> Any:
        """SINTER keys: a set."""
        return self.execute_command("SINTER", *list_or_args(keys, args))

    def sunion(self, keys: Any, *args: Any) -> Any:
        """SUNION keys: a set."""
        return self.execute_command("SUNION", *list_or_args(keys, args))

    def sdiff(self, keys: Any, *args: Any) -> Any:
        """SDIFF keys: a set."""
        return self.execute_command("SDIFF", *list_or_args(keys, args))

    def scard(self, name: Any) -> Any:
        """SCARD name."""
        return self.execute_command("SCARD", name)

    def sismember(self, name: Any, value: Any) -> Any:
        """SISMEMBER name member: 1 or 0."""
        return self.execute_command("SISMEMBER", name, value)

    def smismember(self, name: Any, values: Any, *args: Any) -> Any:
        """SMISMEMBER name members: a list of 1/0."""
        return self.execute_command("SMISMEMBER", name, *list_or_args(values, args))

    # ----------------------------------------------------- sorted sets
    def zadd(self, name: Any, mapping: Mapping[Any, Any], nx: bool = False, xx: bool = False, ch: bool = False,
             incr: bool = False, gt: bool = False, lt: bool = False) -> Any:
        """ZADD name [NX|XX] [CH] [INCR] [GT|LT] from {member: score}: how many were added (or the new score)."""
        if not mapping:
            raise DataError("ZADD requires at least one element/score pair")
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if gt and lt:
            raise DataError("ZADD allows either 'gt' or 'lt', not both")
        if incr and len(mapping) != 1:
            raise DataError("ZADD option 'incr' only works when passing a single element/score pair")
        if nx and (gt or lt):
            raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        pieces: list[Any] = []
        options: dict[str, Any] = {}
        for flag, on in ((b"NX", nx), (b"XX", xx), (b"CH", ch), (b"INCR", incr), (b"GT", gt), (b"LT", lt)):
            if on:
                pieces.append(flag)
        if incr:
            options["as_score"] = True
        for member, score in mapping.items():
            pieces += [score, member]
        return self.execute_command("ZADD", name, *pieces, **options)

    def zincrby(self, name: Any, amount: Any, value: Any) -> Any:
        """ZINCRBY name amount member: the new score."""
        return self.execute_command("ZINCRBY", name, amount, value)

    def zrem(self, name: Any, *values: Any) -> Any:
        """ZREM name member [member ...]."""
        return self.execute_command("ZREM", name, *values)

    def zrange(self, name: Any, start: Any, end: Any, desc: bool = False, withscores: bool = False,
               score_cast_func: Callable[[Any], Any] = float, byscore: bool = False, bylex: bool = False,
               offset: int | None = None, num: int | None = None) -> Any:
        """ZRANGE name start end [BYSCORE|BYLEX] [REV] [LIMIT] [WITHSCORES] (``desc`` alone sends ZREVRANGE)."""
        if not byscore and not bylex and offset is None and num is None and desc:
            return self.zrevrange(name, start, end, withscores, score_cast_func)
        if byscore and bylex:
            raise DataError("``byscore`` and ``bylex`` can not be specified together.")
        if (offset is not None and num is None) or (num is not None and offset is None):
            raise DataError("``offset`` and ``num`` must both be specified.")
        if bylex and withscores:
            raise DataError("``withscores`` not supported in combination with ``bylex``.")
        pieces: list[Any] = ["ZRANGE", name, start, end]
        if byscore:
            pieces.append("BYSCORE")
        if bylex:
            pieces.append("BYLEX")
        if desc:
            pieces.append("REV")
        if offset is not None and num is not None:
            pieces += ["LIMIT", offset, num]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrevrange(self, name: Any, start: Any, end: Any, withscores: bool = False,
                  score_cast_func: Callable[[Any], Any] = float) -> Any:
        """ZREVRANGE name start end [WITHSCORES]."""
        pieces: list[Any] = ["ZREVRANGE", name, start, end]
        if withscores:
            pieces.append(b"WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrangebyscore(self, name: Any, min: Any, max: Any, start: int | None = None, num: int | None = None,
                      withscores: bool = False, score_cast_func: Callable[[Any], Any] = float) -> Any:
        """ZRANGEBYSCORE name min max [LIMIT start num] [WITHSCORES]."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError("``start`` and ``num`` must both be specified")
        pieces: list[Any] = ["ZRANGEBYSCORE", name, min, max]
        if start is not None and num is not None:
            pieces += ["LIMIT", start, num]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zrevrangebyscore(self, name: Any, max: Any, min: Any, start: int | None = None, num: int | None = None,
                         withscores: bool = False, score_cast_func: Callable[[Any], Any] = float) -> Any:
        """ZREVRANGEBYSCORE name max min [LIMIT start num] [WITHSCORES]."""
        if (start is not None and num is None) or (num is not None and start is None):
            raise DataError("``start`` and ``num`` must both be specified")
        pieces: list[Any] = ["ZREVRANGEBYSCORE", name, max, min]
        if start is not None and num is not None:
            pieces += ["LIMIT", start, num]
        if withscores:
            pieces.append("WITHSCORES")
        return self.execute_command(*pieces, withscores=withscores, score_cast_func=score_cast_func)

    def zremrangebyscore(self, name: Any, min: Any, max: Any) -> Any:
        """ZREMRANGEBYSCORE name min max (``(`` for exclusive, ``-inf``/``+inf``): how many were removed."""
        return self.execute_command("ZREMRANGEBYSCORE", name, min, max)

    def zremrangebyrank(self, name: Any, min: Any, max: Any) -> Any:
        """ZREMRANGEBYRANK name start stop."""
        return self.execute_command("ZREMRANGEBYRANK", name, min, max)

    def zcount(self, name: Any, min: Any, max: Any) -> Any:
        """ZCOUNT name min max."""
        return self.execute_command("ZCOUNT", name, min, max)

    def zcard(self, name: Any) -> Any:
        """ZCARD name."""
        return self.execute_command("ZCARD", name)

    def zscore(self, name: Any, value: Any) -> Any:
        """ZSCORE name member: a float, or None."""
        return self.execute_command("ZSCORE", name, value)

    def zmscore(self, key: Any, members: list[Any]) -> Any:
        """ZMSCORE key members: floats (None where absent)."""
        if not members:
            raise DataError("ZMSCORE members must be a non-empty list")
        return self.execute_command("ZMSCORE", key, *members)

    def zrank(self, name: Any, value: Any) -> Any:
        """ZRANK name member."""
        return self.execute_command("ZRANK", name, value)

    def zrevrank(self, name: Any, value: Any) -> Any:
        """ZREVRANK name member."""
        return self.execute_command("ZREVRANK", name, value)

    # --------------------------------------------------------- pub/sub
    def publish(self, channel: Any, message: Any) -> Any:
        """PUBLISH channel message: how many subscribers received it."""
        return self.execute_command("PUBLISH", channel, message)

    def pubsub_channels(self, pattern: Any = "*") -> Any:
        """PUBSUB CHANNELS [pattern]."""
        return self.execute_command("PUBSUB CHANNELS", pattern)

    def pubsub_numsub(self, *args: Any) -> Any:
        """PUBSUB NUMSUB channel ...: [(channel, count), ...]."""
        return self.execute_command("PUBSUB NUMSUB", *args)

    def pubsub_numpat(self) -> Any:
        """PUBSUB NUMPAT."""
        return self.execute_command("PUBSUB NUMPAT")

    # --------------------------------------------------------- scripts
    def eval(self, script: Any, numkeys: int, *keys_and_args: Any) -> Any:
        """EVAL script numkeys key ... arg ... (a Lua source registered with ``register_lua``, or a function)."""
        body = python_body(script) if callable(script) else script
        return self.execute_command("EVAL", body, numkeys, *keys_and_args)

    def evalsha(self, sha: Any, numkeys: int, *keys_and_args: Any) -> Any:
        """EVALSHA sha numkeys key ... arg ..."""
        return self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)

    def script_load(self, script: Any) -> Any:
        """SCRIPT LOAD script: its SHA (str)."""
        return self.execute_command("SCRIPT LOAD", python_body(script) if callable(script) else script)

    def script_exists(self, *args: Any) -> Any:
        """SCRIPT EXISTS sha ...: a list of bools."""
        return self.execute_command("SCRIPT EXISTS", *args)

    def script_flush(self, sync_type: str | None = None) -> Any:
        """SCRIPT FLUSH [SYNC|ASYNC]."""
        return self.execute_command("SCRIPT FLUSH", *(() if sync_type is None else (sync_type,)))

    # ----------------------------------------------------- replication
    def wait(self, num_replicas: int, timeout: int) -> Any:
        """WAIT numreplicas timeout(ms): how many replicas acknowledged this client's writes."""
        return self.execute_command("WAIT", num_replicas, timeout)

    def replicaof(self, *args: Any) -> Any:
        """REPLICAOF host port, or REPLICAOF NO ONE (``replicaof("NO", "ONE")``)."""
        return self.execute_command("REPLICAOF", *args)

    def slaveof(self, host: Any = None, port: Any = None) -> Any:
        """SLAVEOF host port; SLAVEOF NO ONE without arguments (True when OK)."""
        if host is None and port is None:
            return self.execute_command("SLAVEOF", b"NO", b"ONE")
        return self.execute_command("SLAVEOF", host, port)

    def role(self) -> Any:
        """ROLE: ``[b"master", offset, [[ip, port, offset], ...]]`` or ``[b"slave", host, port, state, offset]``."""
        return self.execute_command("ROLE")


def _const(value: Any) -> Gen:
    return value
    yield  # pragma: no cover - makes this a generator


class Redis(Commands):
    """A client of the simulated Redis, as ``redis.Redis``.

    Args:
        world: the simulation world.
        host: the component (or node name) the client runs on; when it is a component, a pause of it
            delays the caller after each reply.
        server: the server (shorthand for ``router=SingleNode(server)``).
        router: how commands find their server.
        socket_timeout: seconds to wait for a reply (None: forever, redis-py's default).
        connection_pool: a pool; default: an unbounded :class:`ConnectionPool`.
        max_connections: shorthand for ``ConnectionPool(max_connections=...)``.
        retry: retry connection errors and timeouts (redis-py ``Retry``).
        decode_responses: replies as str instead of bytes (redis-py's option).
        name: names the client's random stream for retry jitter (``NAME:retry``).
    """

    def __init__(self, world: World, host: Component | str, server: Server | None = None, *,
                 router: Router | None = None, socket_timeout: float | None = None,
                 connection_pool: ConnectionPool | None = None, max_connections: int | None = None,
                 retry: Retry | None = None, decode_responses: bool = False, name: str | None = None) -> None:
        if (server is None) == (router is None):
            raise UsageError("give the client either a server or a router")
        self.world = world
        self.env = world.env
        self.host = None if isinstance(host, str) else host
        self.node = host if isinstance(host, str) else host.node
        self.router: Router = router if router is not None else SingleNode(server)  # type: ignore[arg-type]
        self.socket_timeout = socket_timeout
        self._deadlines = Deadlines(self.env, socket_timeout) if socket_timeout else None
        if connection_pool is None:
            connection_pool = ConnectionPool(self.env, max_connections or 2**31)
        self.connection_pool = connection_pool
        self.retry = retry
        self.decode_responses = bool(decode_responses)
        self.name = name or f"{self.node}:redis-client"
        self._retry_rng = world.rng(f"{self.name}:retry") if retry is not None and retry.retries else None
        self.response_callbacks = dict(RESPONSE_CALLBACKS)

    # ----------------------------------------------------------- calling
    def execute_command(self, *args: Any, **options: Any) -> Gen:
        """Run one command (generator): its parsed reply, or raise."""
        if EMPTY_RESPONSE in options:
            return _const(options[EMPTY_RESPONSE])
        cb = options.pop("_cb", None) or _command_name(args[0])
        return self._execute(_wire(args), cb, options)

    def _execute(self, args: tuple[Any, ...], cb_name: str, options: Mapping[str, Any]) -> Gen:
        try:
            reply = yield from self._send(args, False, self.router.target)
        except ResponseError as err:
            raise parse_error(str(err)) from None
        return self.parse_reply(cb_name, reply, options)

    def to_client(self, reply: Any) -> Any:
        """A server reply as redis-py's RESP2 parser hands it over (bytes, or str when decoding)."""
        if isinstance(reply, str):
            return reply if self.decode_responses else reply.encode()
        if isinstance(reply, bytes):
            return reply.decode() if self.decode_responses else reply
        if isinstance(reply, list):
            return [self.to_client(x) for x in reply]
        if isinstance(reply, ResponseError):
            return parse_error(str(reply))
        return reply

    def parse_reply(self, cb_name: str, reply: Any, options: Mapping[str, Any]) -> Any:
        """Decode a reply and run its response callback."""
        reply = self.to_client(reply)
        cb = self.response_callbacks.get(cb_name)
        return cb(reply, **options) if cb is not None else reply

    def _send(self, cmd: Any, batch: bool, pick: Callable[[Any], Server], conn: Any = None) -> Gen:
        """Send ``cmd`` (or a batch) to the server ``pick(cmd)`` chooses, with pool, retries and redirects."""
        failures = 0
        pool = self.connection_pool
        env = self.env
        if self.router.stale:  # a Sentinel-managed client asks where the master is before it (re)connects
            yield from self.router.resolve()
        server = pick(cmd)
        while True:
            held = conn
            try:
                if held is None:
                    if isinstance(pool, BlockingConnectionPool):
                        held = yield from pool.get_connection()
                    else:
                        held = pool.take()
                        if held is None:
                            pool.exhausted += 1
                            raise ConnectionError("Too many connections")
                try:
                    pre = self.router.prelude(server)
                    if pre is not None:  # e.g. ASKING, one round trip before the command, on its connection
                        yield from call(self.world, self.node, server, pre, host=self.host,
                                        deadlines=self._deadlines, conn=held)
                    reply = yield from call(self.world, self.node, server, cmd, batch=batch, host=self.host,
                                            deadlines=self._deadlines, conn=held)
                finally:
                    if conn is None:
                        pool.release(held)
            except (ConnectionError, TimeoutError) as err:
                if isinstance(err, TimeoutError) and held is not None and _blocking(cmd, batch):
                    # redis-py drops a connection that timed out; the server sees it close and stops
                    # holding the blocked pop (which would otherwise take an element for nobody)
                    send(self.world, self.node, server, (b"QUIT",), conn=held)
                self.router.failed(server, err)
                if self.retry is None or failures >= self.retry.retries:
                    raise
                failures += 1
                assert self._retry_rng is not None
                wait = self.retry.backoff.compute(failures, self._retry_rng)
                if wait > 0:
                    yield env.timeout(wait)
                if self.router.stale:
                    yield from self.router.resolve()
                server = pick(cmd)
                continue
            except ResponseError as err:
                nxt = self.router.redirected(server, err)
                if nxt is None:
                    raise
                server = nxt
                wait = self.router.retry_wait(err)
                if wait > 0:
                    yield env.timeout(wait)
                continue
            if reply.__class__ is Value:
                self.world.note_served(server.name)  # which tier served this process's latest value
            host = self.host
            if host is not None and env.now < host.paused_until:
                yield env.timeout(host.paused_until - env.now)
            return reply

    # ---------------------------------------------------------- helpers
    def pipeline(self, transaction: bool = True) -> Pipeline:
        """A pipeline: commands queue until ``yield from pipe.execute()`` sends them in one message."""
        return Pipeline(self, transaction)

    def register_script(self, script: Any) -> Script:
        """A :class:`Script` from a Lua source (registered with ``register_lua``) or a Python function."""
        return Script(self, script)

    def pubsub(self, ignore_subscribe_messages: bool = False) -> PubSub:
        """A :class:`PubSub` on a connection of its own."""
        return PubSub(self, ignore_subscribe_messages)


class Pipeline(Commands):
    """Queued commands sent in one message (redis-py ``Pipeline``); with ``transaction`` wrapped in MULTI/EXEC."""

    def __init__(self, client: Redis, transaction: bool = True) -> None:
        self.client = client
        self.transaction = transaction
        self.command_stack: list[tuple[tuple[Any, ...], str, dict[str, Any]]] = []
        self.scripts: set[Script] = set()

    def __len__(self) -> int:
        return len(self.command_stack)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the queued commands."""
        self.command_stack = []
        self.scripts = set()

    def execute_command(self, *args: Any, **options: Any) -> Pipeline:
        cb = options.pop("_cb", None) or _command_name(args[0])
        self.command_stack.append((_wire(args), cb, options))
        return self

    def load_scripts(self) -> Gen:
        """Make sure every script queued exists on the server (SCRIPT EXISTS, then SCRIPT LOAD the missing)."""
        scripts = list(self.scripts)
        client = self.client
        exists = yield from client.execute_command("SCRIPT EXISTS", *[s.sha for s in scripts])
        for s, ok in zip(scripts, exists, strict=True):
            if not ok:
                s.sha = yield from client.execute_command("SCRIPT LOAD", s.script)

    def execute(self, raise_on_error: bool = True) -> Gen:
        """Send the queued commands; the list of their parsed replies (an error reply raises, or is kept)."""
        stack = self.command_stack
        scripts = self.scripts
        self.reset()
        if not stack:
            return []
        client = self.client
        if scripts:
            self.scripts = scripts
            yield from self.load_scripts()
            self.scripts = set()
        cmds = [a for a, _, _ in stack]
        pick: Callable[[Any], Server] = lambda _b: client.router.targets(cmds)  # noqa: E731
        if not self.transaction:
            replies = yield from client._send(cmds, True, pick)
            parsed = [self._parse(cb, r, opts) for (_, cb, opts), r in zip(stack, replies, strict=True)]
            if raise_on_error:
                self._raise_first_error(stack, parsed)
            return parsed
        sent = [a for a, _, opts in stack if EMPTY_RESPONSE not in opts]
        replies = yield from client._send([(b"MULTI",), *sent, (b"EXEC",)], True, pick)
        errors: list[tuple[int, Any]] = []
        if isinstance(replies[0], ResponseError):
            errors.append((0, parse_error(str(replies[0]))))
        k = 1
        for i, (args, _, opts) in enumerate(stack):
            if EMPTY_RESPONSE in opts:
                errors.append((i, opts[EMPTY_RESPONSE]))
                continue
            r = replies[k]
            k += 1
            if isinstance(r, ResponseError):
                errors.append((i, annotate(parse_error(str(r)), i + 1, args)))
        result = replies[-1]
        if isinstance(result, ResponseError):
            err = parse_error(str(result))
            if isinstance(err, ExecAbortError) and errors:
                raise errors[0][1]
            raise err
        if result is None:
            raise WatchError("Watched variable changed.")
        response: list[Any] = [client.to_client(r) for r in result]
        for i, e in errors:
            response.insert(i, e)
        if len(response) != len(stack):
            raise ResponseError("Wrong number of response items from pipeline execution")
        if raise_on_error:
            self._raise_first_error(stack, response)
        out = []
        for (_, cb, opts), r in zip(stack, response, strict=True):
            if not isinstance(r, Exception):
                f = client.response_callbacks.get(cb)
                r = f(r, **opts) if f is not None else r
            out.append(r)
        return out

    def _parse(self, cb: str, r: Any, opts: Mapping[str, Any]) -> Any:
        if isinstance(r, ResponseError):
            return parse_error(str(r))
        return self.client.parse_reply(cb, r, opts)

    @staticmethod
    def _raise_first_error(stack: list[tuple[tuple[Any, ...], str, dict[str, Any]]], response: list[Any]) -> None:
        for i, r in enumerate(response):
            if isinstance(r, ResponseError):
                raise annotate(r, i + 1, stack[i][0])


class Script:
    """A registered script (redis-py ``Script``): ``yield from script(keys=[...], args=[...])``.

    Args:
        registered_client: the client it runs on by default.
        script: a Lua source (with a Python equivalent registered by ``register_lua``) or a Python
            function ``fn(redis, keys, args)``.
    """

    def __init__(self, registered_client: Redis, script: Any) -> None:
        self.registered_client = registered_client
        if callable(script):
            self.fn: Callable[..., Any] | None = script
            self.script = python_body(script)
        else:
            self.fn = None
            self.script = script.encode() if isinstance(script, str) else bytes(script)
        self.sha = sha1hex(self.script)

    @property
    def client(self) -> Redis:
        """The client the script runs on by default."""
        return self.registered_client

    def __call__(self, keys: Iterable[Any] | None = None, args: Iterable[Any] | None = None,
                 client: Redis | Pipeline | None = None) -> Any:
        """EVALSHA, loading the script first when the server answers NOSCRIPT (a generator; a pipeline queues)."""
        ks, extra = list(keys or ()), list(args or ())
        c = client if client is not None else self.registered_client
        if isinstance(c, Pipeline):
            c.scripts.add(self)
            return c.evalsha(self.sha, len(ks), *ks, *extra)
        return self._run(c, ks, extra)

    def _run(self, c: Redis, keys: list[Any], args: list[Any]) -> Gen:
        try:
            return (yield from c.evalsha(self.sha, len(keys), *keys, *args))
        except NoScriptError:
            # the server does not know it (a restart, another server): load it and try again
            self.sha = yield from c.script_load(self.script)
            return (yield from c.evalsha(self.sha, len(keys), *keys, *args))


class _PushConnection:
    """The connection a :class:`PubSub` holds: the server pushes messages to it."""

    __slots__ = ("conn", "inbox", "waiter")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.inbox: deque[Any] = deque()
        self.waiter: simpy.Event | None = None

    @property
    def id(self) -> int:
        return self.conn.id

    def push(self, msg: Any) -> None:
        """A message arrived from the server."""
        self.inbox.append(msg)
        w = self.waiter
        if w is not None and not w.triggered:
            self.waiter = None
            w.succeed()


class PubSub:
    """Subscriptions on a connection of their own (redis-py ``PubSub``), with generator methods.

    ``yield from p.subscribe("ch")`` returns once the server has processed the
    subscription; ``msg = yield from p.get_message(timeout=1.0)`` returns the
    next message as redis-py's dict (``{"type": "message", "pattern": None,
    "channel": b"ch", "data": b"hi"}``), or None when none comes in time
    (``timeout=0``: do not wait; ``None``: wait forever).  A handler given as
    ``subscribe(ch=handler)`` is called with the message instead.  When the
    server's process dies, ``get_message`` raises ``ConnectionError``.
    """

    PUBLISH_MESSAGE_TYPES = ("message", "pmessage")
    UNSUBSCRIBE_MESSAGE_TYPES = ("unsubscribe", "punsubscribe")

    def __init__(self, client: Redis, ignore_subscribe_messages: bool = False) -> None:
        self.client = client
        self.ignore_subscribe_messages = ignore_subscribe_messages
        self.channels: dict[Any, Callable[[dict[str, Any]], Any] | None] = {}
        self.patterns: dict[Any, Callable[[dict[str, Any]], Any] | None] = {}
        self.connection: _PushConnection | None = None

    @property
    def subscribed(self) -> bool:
        """Whether any channel or pattern is subscribed."""
        return bool(self.channels or self.patterns)

    def _connect(self) -> _PushConnection:
        if self.connection is None:
            conn = self.client.connection_pool.take()
            if conn is None:
                self.client.connection_pool.exhausted += 1
                raise ConnectionError("Too many connections")
            self.connection = _PushConnection(conn)
        return self.connection

    def execute_command(self, *args: Any) -> Gen:
        """Send a command on the subscription connection; returns once the server has run it."""
        pc = self._connect()
        c = self.client
        cmd = _wire(args)
        try:
            yield from c._send(cmd, False, c.router.target, conn=pc)
        except ResponseError as err:
            raise parse_error(str(err)) from None

    def _norm(self, name: Any) -> Any:
        """A channel name as replies carry it (redis-py's ``_normalize_keys``)."""
        b = encode(name)
        return b.decode() if self.client.decode_responses and isinstance(b, bytes) else b

    def subscribe(self, *args: Any, **kwargs: Callable[[dict[str, Any]], Any]) -> Gen:
        """SUBSCRIBE channel ... (``channel=handler`` keywords register handlers)."""
        new: dict[Any, Any] = dict.fromkeys(list_or_args(args[0], args[1:]) if args else [])
        new.update(kwargs)
        yield from self.execute_command("SUBSCRIBE", *new)
        self.channels.update({self._norm(k): v for k, v in new.items()})

    def psubscribe(self, *args: Any, **kwargs: Callable[[dict[str, Any]], Any]) -> Gen:
        """PSUBSCRIBE pattern ..."""
        new: dict[Any, Any] = dict.fromkeys(list_or_args(args[0], args[1:]) if args else [])
        new.update(kwargs)
        yield from self.execute_command("PSUBSCRIBE", *new)
        self.patterns.update({self._norm(k): v for k, v in new.items()})

    def unsubscribe(self, *args: Any) -> Gen:
        """UNSUBSCRIBE [channel ...]."""
        yield from self.execute_command("UNSUBSCRIBE", *(list_or_args(args[0], args[1:]) if args else []))

    def punsubscribe(self, *args: Any) -> Gen:
        """PUNSUBSCRIBE [pattern ...]."""
        yield from self.execute_command("PUNSUBSCRIBE", *(list_or_args(args[0], args[1:]) if args else []))

    def ping(self, message: Any = None) -> Gen:
        """PING on the subscription connection (the answer comes as a ``pong`` message)."""
        yield from self.execute_command("PING", *(() if message is None else (message,)))

    def get_message(self, ignore_subscribe_messages: bool = False, timeout: float | None = 0.0) -> Gen:
        """The next message (a dict), or None when none arrives within ``timeout`` seconds."""
        pc = self.connection
        if pc is None:
            return None
        env = self.client.env
        if not pc.inbox and timeout != 0.0:
            ev = env.event()
            pc.waiter = ev
            if timeout is None:
                yield ev
            else:
                yield ev | env.timeout(timeout)
            if pc.waiter is ev:
                pc.waiter = None
        if not pc.inbox:
            return None
        raw = pc.inbox.popleft()
        if isinstance(raw, BaseException):
            raise raw
        return self.handle_message(raw, ignore_subscribe_messages)

    def handle_message(self, response: list[Any], ignore_subscribe_messages: bool = False) -> Any:
        """A pushed array as redis-py's message dict (``PubSub.handle_message``)."""
        response = self.client.to_client(response)
        mtype = str_if_bytes(response[0])
        if mtype == "pmessage":
            message = {"type": mtype, "pattern": response[1], "channel": response[2], "data": response[3]}
        elif mtype == "pong":
            message = {"type": mtype, "pattern": None, "channel": None, "data": response[1]}
        else:
            message = {"type": mtype, "pattern": None, "channel": response[1], "data": response[2]}
        if mtype in self.UNSUBSCRIBE_MESSAGE_TYPES:
            table = self.patterns if mtype == "punsubscribe" else self.channels
            table.pop(response[1], None)
        if mtype in self.PUBLISH_MESSAGE_TYPES:
            handler = (self.patterns.get(message["pattern"]) if mtype == "pmessage"
                       else self.channels.get(message["channel"]))
            if handler:
                handler(message)
                return None
        elif mtype != "pong" and (ignore_subscribe_messages or self.ignore_subscribe_messages):
            return None
        return message

    def close(self) -> None:
        """Close the connection (the server drops its subscriptions) and give it back to the pool."""
        pc = self.connection
        if pc is None:
            return
        self.connection = None
        c = self.client
        # the server learns of the closed socket: modelled as a QUIT nobody waits for
        send(c.world, c.node, c.router.target((b"QUIT",)), (b"QUIT",), conn=pc)
        c.connection_pool.release(pc.conn)
        self.channels.clear()
        self.patterns.clear()

    reset = close
