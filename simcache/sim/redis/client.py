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
int/float -> their decimal text, bytes unchanged; a bool is a ``DataError``);
a simulation :class:`~simcache.sim.oracle.Value` passes through as an opaque
value.  Replies go through response callbacks as redis-py's
(``SET`` -> True/None, ``EXPIRE`` -> bool, ``HGETALL`` -> dict, ...).

Routing is pluggable: a :class:`Router` picks the server for each command
(:class:`SingleNode` here; replica, Sentinel and Cluster routers plug in the
same way) and hears about connection errors (to rediscover a master) and
error replies (to follow a ``MOVED``).  Connection pools and retries follow
redis-py: :class:`~simcache.sim.pool.ConnectionPool` (fail at once when
``max_connections`` are in use) or
:class:`~simcache.sim.pool.BlockingConnectionPool` (wait up to its timeout),
and ``Retry(backoff, retries)`` retrying connection errors and timeouts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simcache.errors import UsageError
from simcache.sim.oracle import Value
from simcache.sim.pool import BlockingConnectionPool, ConnectionPool
from simcache.sim.rpc import ConnectionError, Deadlines, RemoteError, ResponseError, TimeoutError, call
from simcache.sim.server import Server

if TYPE_CHECKING:
    from simcache.sim.component import Component
    from simcache.sim.world import World

Gen = Generator[simpy.Event, Any, Any]


class DataError(RemoteError):
    """An argument redis-py would refuse to encode (redis-py ``DataError``)."""


def encode(value: Any) -> Any:
    """Encode one argument as redis-py's ``Encoder.encode`` does (a Value passes through)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        raise DataError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    if isinstance(value, Value | memoryview | bytearray):
        return value
    raise DataError(f"Invalid input of type: '{type(value).__name__}'. Convert to a bytes, string, int or float "
                    "first.")


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

    def target(self, args: tuple[Any, ...]) -> Server:
        """The server that should run ``args`` (command name first)."""
        raise NotImplementedError

    def targets(self, stack: list[tuple[Any, ...]]) -> Server:
        """The server for a pipeline (default: the first command's)."""
        return self.target(stack[0])

    def failed(self, server: Server, err: Exception) -> None:
        """A call to ``server`` failed with a connection error or a timeout."""

    def redirected(self, server: Server, err: ResponseError) -> Server | None:
        """An error reply from ``server``: the server to retry on (a MOVED), or None to raise it."""
        return None


class SingleNode(Router):
    """Every command goes to one server."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def target(self, args: tuple[Any, ...]) -> Server:
        return self.server


# ------------------------------------------------------ response callbacks
def _bool_ok(r: Any, **_: Any) -> Any:
    return r == "OK" if isinstance(r, str) else r


def _set_reply(r: Any, **options: Any) -> Any:
    if options.get("get"):
        return r
    return True if r == "OK" else None


def _pairs_to_dict(r: Any, **_: Any) -> Any:
    return {r[i]: r[i + 1] for i in range(0, len(r), 2)} if r is not None else r


def _parse_info(r: Any, **_: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in (r.decode() if isinstance(r, bytes) else r).splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, _, v = line.partition(":")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


#: command name -> parser of its reply (redis-py's ``RESPONSE_CALLBACKS``, for the commands simulated)
RESPONSE_CALLBACKS: dict[str, Callable[..., Any]] = {
    "PING": lambda r, **_: r == "PONG" if isinstance(r, str) else r,
    "SET": _set_reply,
    "SETEX": _bool_ok,
    "EXPIRE": lambda r, **_: bool(r),
    "CONFIG GET": _pairs_to_dict,
    "CONFIG SET": _bool_ok,
    "INFO": _parse_info,
}


class Commands:
    """The command methods, shared by :class:`Redis` (runs them) and :class:`Pipeline` (queues them)."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        raise NotImplementedError

    def ping(self, message: Any = None) -> Any:
        """PING [message]."""
        return self.execute_command("PING", *(() if message is None else (message,)))

    def get(self, name: Any) -> Any:
        """GET name: the value (bytes), or None."""
        return self.execute_command("GET", name)

    def set(self, name: Any, value: Any, ex: float | None = None, px: float | None = None, nx: bool = False,
            xx: bool = False, keepttl: bool = False, get: bool = False, exat: Any = None, pxat: Any = None) -> Any:
        """SET name value [EX|PX|EXAT|PXAT] [NX|XX] [KEEPTTL] [GET]; True, or None when NX/XX prevented it."""
        args: list[Any] = ["SET", name, value]
        if ex is not None:
            args += ["EX", int(ex)]
        if px is not None:
            args += ["PX", int(px)]
        if exat is not None:
            args += ["EXAT", int(exat)]
        if pxat is not None:
            args += ["PXAT", int(pxat)]
        if keepttl:
            args.append("KEEPTTL")
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        if get:
            args.append("GET")
        return self.execute_command(*args, get=get)

    def setex(self, name: Any, time: float, value: Any) -> Any:
        """SETEX name seconds value."""
        return self.execute_command("SETEX", name, int(time), value)

    def delete(self, *names: Any) -> Any:
        """DEL name [name ...]: how many keys were removed."""
        return self.execute_command("DEL", *names)

    def exists(self, *names: Any) -> Any:
        """EXISTS name [name ...]: how many of them exist."""
        return self.execute_command("EXISTS", *names)

    def expire(self, name: Any, time: float) -> Any:
        """EXPIRE name seconds: whether the timeout was set."""
        return self.execute_command("EXPIRE", name, int(time))

    def ttl(self, name: Any) -> Any:
        """TTL name: seconds to live, -1 without expiry, -2 when absent."""
        return self.execute_command("TTL", name)

    def info(self, section: Any = None) -> Any:
        """INFO [section], parsed into a dict."""
        return self.execute_command("INFO", *(() if section is None else (section,)))

    def config_get(self, pattern: str = "*") -> Any:
        """CONFIG GET pattern, as a dict."""
        return self.execute_command("CONFIG", "GET", pattern, _cb="CONFIG GET")

    def config_set(self, name: str, value: Any) -> Any:
        """CONFIG SET name value."""
        return self.execute_command("CONFIG", "SET", name, value, _cb="CONFIG SET")


def _callback_name(args: tuple[Any, ...], options: Mapping[str, Any]) -> str:
    cb = options.get("_cb")
    if cb:
        return str(cb)
    n = args[0]
    return (n.decode() if isinstance(n, bytes) else str(n)).upper()


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
        name: names the client's random stream for retry jitter (``NAME:retry``).
    """

    def __init__(self, world: World, host: Component | str, server: Server | None = None, *,
                 router: Router | None = None, socket_timeout: float | None = None,
                 connection_pool: ConnectionPool | None = None, max_connections: int | None = None,
                 retry: Retry | None = None, name: str | None = None) -> None:
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
        self.name = name or f"{self.node}:redis-client"
        self._retry_rng = world.rng(f"{self.name}:retry") if retry is not None and retry.retries else None
        self.response_callbacks = dict(RESPONSE_CALLBACKS)

    # ----------------------------------------------------------- calling
    def execute_command(self, *args: Any, **options: Any) -> Gen:
        """Run one command (generator): its parsed reply, or raise."""
        return self._execute(tuple(map(encode, args)), options)

    def _execute(self, args: tuple[Any, ...], options: Mapping[str, Any]) -> Gen:
        reply = yield from self._send(args, False, self.router.target)
        cb = self.response_callbacks.get(_callback_name(args, options))
        return cb(reply, **options) if cb is not None else reply

    def _send(self, cmd: Any, batch: bool, pick: Callable[[Any], Server]) -> Gen:
        """Send ``cmd`` (or a batch) to the server ``pick(cmd)`` chooses, with pool, retries and redirects."""
        failures = 0
        pool = self.connection_pool
        env = self.env
        server = pick(cmd)
        while True:
            try:
                if isinstance(pool, BlockingConnectionPool):
                    conn = yield from pool.get_connection()
                else:
                    conn = pool.take()
                    if conn is None:
                        pool.exhausted += 1
                        raise ConnectionError("Too many connections")
                try:
                    reply = yield from call(self.world, self.node, server, cmd, batch=batch,
                                            deadlines=self._deadlines, conn=conn)
                finally:
                    pool.release(conn)
            except (ConnectionError, TimeoutError) as err:
                self.router.failed(server, err)
                if self.retry is None or failures >= self.retry.retries:
                    raise
                failures += 1
                assert self._retry_rng is not None
                wait = self.retry.backoff.compute(failures, self._retry_rng)
                if wait > 0:
                    yield env.timeout(wait)
                server = pick(cmd)
                continue
            except ResponseError as err:
                nxt = self.router.redirected(server, err)
                if nxt is None:
                    raise
                server = nxt
                continue
            if reply.__class__ is Value:
                self.world.note_served(server.name)
            host = self.host
            if host is not None and env.now < host.paused_until:
                yield env.timeout(host.paused_until - env.now)
            return reply

    # ---------------------------------------------------------- helpers
    def pipeline(self, transaction: bool = True) -> Pipeline:
        """A pipeline: commands queue until ``yield from pipe.execute()`` sends them in one message."""
        return Pipeline(self, transaction)

    def register_script(self, fn: Callable[..., Any]) -> Script:
        """A script: ``fn(redis, keys, args)`` runs atomically on the server (standing for EVAL/EVALSHA);
        inside it, ``redis.call(*command)`` runs a command and returns its raw reply."""
        return Script(self, fn)


class Pipeline(Commands):
    """Queued commands sent in one message (redis-py ``Pipeline``); with ``transaction`` wrapped in MULTI/EXEC."""

    def __init__(self, client: Redis, transaction: bool = True) -> None:
        self.client = client
        self.transaction = transaction
        self.command_stack: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self.command_stack)

    def execute_command(self, *args: Any, **options: Any) -> Pipeline:
        self.command_stack.append((tuple(map(encode, args)), options))
        return self

    def execute(self, raise_on_error: bool = True) -> Gen:
        """Send the queued commands; the list of their parsed replies (an error reply raises, or is kept)."""
        stack = self.command_stack
        self.command_stack = []
        if not stack:
            return []
        cmds = [a for a, _ in stack]
        client = self.client
        if self.transaction:
            batch = [(b"MULTI",), *cmds, (b"EXEC",)]
            replies = yield from client._send(batch, True, lambda _b: client.router.targets(cmds))
            for r in replies[:-1]:
                if isinstance(r, ResponseError):
                    raise ResponseError(f"Command # {replies.index(r)} in transaction: {r}")
            results = replies[-1]
            if isinstance(results, ResponseError):
                raise results
        else:
            results = yield from client._send(cmds, True, lambda _b: client.router.targets(cmds))
        out = []
        for (args, options), r in zip(stack, results, strict=True):
            if isinstance(r, ResponseError):
                if raise_on_error:
                    raise r
                out.append(r)
                continue
            cb = client.response_callbacks.get(_callback_name(args, options))
            out.append(cb(r, **options) if cb is not None else r)
        return out


#: script sha -> function, shared by every simulated server (as if loaded with SCRIPT LOAD)
SCRIPTS: dict[bytes, Callable[..., Any]] = {}


class Script:
    """A registered script (redis-py ``Script``): ``yield from script(keys=[...], args=[...])``."""

    def __init__(self, client: Redis, fn: Callable[..., Any]) -> None:
        self.client = client
        self.fn = fn
        self.sha = hashlib.sha1(f"{fn.__module__}.{fn.__qualname__}".encode()).hexdigest().encode()
        SCRIPTS[self.sha] = fn

    def __call__(self, keys: Iterable[Any] = (), args: Iterable[Any] = (), client: Redis | None = None) -> Gen:
        keys = list(keys)
        c = client or self.client
        return c.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
