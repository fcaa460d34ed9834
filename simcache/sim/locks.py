"""Distributed locks: the seed's ``RedisLock`` line for line, its flaws happening, and the fixes beside it.

The seed (``shared/seed/caching-and-data-stores.md``, "Distributed Locking")
takes a lock with ``SET key uuid NX EX timeout``, busy-waits 1 ms between
attempts until ``timeout`` seconds have passed, and releases it with a
compare-and-delete Lua script.  :class:`RedisLock` is that class, statement
by statement: ``time.time()`` is the host's ``clock.time()``, ``time.sleep``
is ``yield clock.sleep(...)``, and every Redis call is a ``yield from``.

What the simulation shows happening:

* **Two holders at once.**  The lock is a lease: it expires ``timeout``
  seconds after the SET whether or not its holder is done.  A holder that
  stops inside its critical section for longer (a GC pause, a ``pause``
  fault on its host, a swapped-out VM) wakes up believing it still holds the
  lock while another contender has taken it; both then write to the shared
  resource.  :class:`ProtectedStore` is that resource: it records who wrote
  what and counts a write computed from a read that another write has since
  superseded (a lost update) as corrupted.  The release script keeps the
  late holder from deleting the new holder's lock, but cannot undo its write.
* **Busy-wait load.**  Each waiting contender sends one SET per
  ``1 ms + round trip``: about ``N x 1000`` commands/s for N waiters on a
  fast network, whatever the lock's hold time.

The fixes beside it:

* :class:`FencedLock` — the same lock plus a **fencing token**: the SET NX and
  an ``INCR`` of a counter run in one script, so each acquisition gets a
  token larger than every earlier one; the resource refuses a read or write
  that carries an older token than one it has already seen, so the late
  holder's write is refused instead of applied.
* :class:`Redlock` — the lock over N independent Redis masters (a majority
  must grant it; its validity is the TTL minus the time taken and a drift
  allowance).  It survives a node crash, not a pause (the same two holders),
  and it assumes bounded clock drift: a node whose clock jumps or runs fast
  (:class:`ClockedRedisServer`, with a :class:`~simcache.sim.simtime.HostClock`
  offset or drift) expires the lock early and two clients can each gather a
  majority.

Helpers the lock and rate-limit simulations share: :class:`Host` (a machine
running client code, with its own clock; a crash kills its processes, a pause
stops them) and :func:`busy` (work that a pause of its host lengthens).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import simpy

from simcache.sim.app import App
from simcache.sim.component import Component, pause_gate
from simcache.sim.redis import Redis, RedisServer, register_lua
from simcache.sim.rpc import ConnectionError, Deadlines, ReplyError, ResponseError, TimeoutError, call
from simcache.sim.server import Server, command
from simcache.sim.simtime import HostClock
from simcache.sim.world import World

if TYPE_CHECKING:
    from simcache.sim.report import SimResult

Gen = Generator[simpy.Event, Any, Any]


# ------------------------------------------------------------------ hosts
class Host(App):
    """A machine running client code (lock contenders, rate-limited request handlers).

    Its processes (started with :meth:`run` or :meth:`spawn`) die when it crashes; :meth:`run`'s come back
    at a restart.  A pause stops it: the Redis and store clients wait out the pause after each reply, and
    :func:`busy` work is lengthened by it.

    Args:
        world: the simulation world.
        name: component name (also its node unless ``node`` is given).
        clock: the host's wall clock (default: true time, no offset or drift).
        node: network node.
    """

    def __init__(self, world: World, name: str, clock: HostClock | None = None, node: str | None = None) -> None:
        super().__init__(world, name, _no_strategy, node=node, cpu="const:0", local_lookup="const:0")
        self.clock = clock if clock is not None else HostClock(world.env)
        self._mains: list[Callable[[], Gen]] = []

    def run(self, main: Callable[[], Gen]) -> simpy.Process:
        """Start ``main()`` now, and again after every restart."""
        self._mains.append(main)
        return self.spawn(main())

    def on_restart(self) -> None:
        super().on_restart()
        for main in self._mains:
            self.spawn(main())


def _no_strategy(_app: App) -> None:
    return None


def busy(host: Component, seconds: float) -> Gen:
    """``seconds`` of work on ``host``; a pause of the host that overlaps it makes it end later by the overlap."""
    env = host.env
    yield from pause_gate(host)
    mark = host.pause_total
    if seconds > 0:
        yield env.timeout(seconds)
    while host.pause_total > mark:
        extra = host.pause_total - mark
        mark = host.pause_total
        yield env.timeout(extra)


def uuid4(rng: np.random.Generator) -> uuid.UUID:
    """``uuid.uuid4()`` drawn from a simulation stream (so runs repeat)."""
    return uuid.UUID(bytes=rng.bytes(16), version=4)


# ------------------------------------------------------------ the seed's lock
#: the seed's release script, byte for byte as its ``release`` writes it (indentation included: the SHA is of this text)
SEED_RELEASE_LUA = """
        if redis.call('get', KEYS[1]) == ARGV[1] then
            return redis.call('del', KEYS[1])
        else
            return 0
        end
        """


@register_lua(SEED_RELEASE_LUA)
def compare_and_delete(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    """Python equivalent of :data:`SEED_RELEASE_LUA`: delete the key only if it still holds our identifier."""
    if redis.call("get", keys[0]) == args[0]:
        return redis.call("del", keys[0])
    return 0


class RedisLock:
    """The seed's ``RedisLock``, statement by statement (``caching-and-data-stores.md``, "Distributed Locking").

    Args:
        redis_client: the redis-py-like client (:class:`~simcache.sim.redis.Redis`).
        key: the lock's key.
        timeout: seconds; both the lock's expiry (SET's EX, so whole seconds, as redis-py requires) and how long
            :meth:`acquire` keeps trying.
        clock: the ``time`` module of the host the code runs on.
        rng: the stream the identifier (the seed's ``uuid.uuid4()``) is drawn from.
    """

    #: the busy-wait between attempts, seconds (the seed's ``time.sleep(0.001)``)
    poll = 0.001

    def __init__(self, redis_client: Redis, key: str, timeout: int = 10, *, clock: HostClock,
                 rng: np.random.Generator) -> None:
        self.redis = redis_client
        self.key = key
        self.timeout = timeout
        self.identifier = str(uuid4(rng))
        self.clock = clock
        #: the fencing token of the current hold (None: this lock gives none)
        self.token: int | None = None

    def acquire(self) -> Gen:
        """Generator: True once the lock is ours, False after ``timeout`` seconds of trying."""
        clock = self.clock
        end = clock.time() + self.timeout
        while clock.time() < end:
            if (yield from self.redis.set(self.key, self.identifier,
                                          nx=True, ex=self.timeout)):
                return True
            yield clock.sleep(0.001)
        return False

    def release(self) -> Gen:
        """Generator: delete the lock if it is still ours (the seed's compare-and-delete script)."""
        lua_script = """
        if redis.call('get', KEYS[1]) == ARGV[1] then
            return redis.call('del', KEYS[1])
        else
            return 0
        end
        """
        yield from self.redis.eval(lua_script, 1, self.key, self.identifier)


# ------------------------------------------------------------ fencing tokens
FENCED_ACQUIRE_LUA = """if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
    return redis.call('incr', KEYS[2])
end
return false"""


@register_lua(FENCED_ACQUIRE_LUA)
def set_nx_and_incr(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    """Python equivalent of :data:`FENCED_ACQUIRE_LUA`: take the lock and, only then, the next fencing token."""
    if redis.call("set", keys[0], args[0], "NX", "EX", args[1]):
        return redis.call("incr", keys[1])
    return False


class FencedLock(RedisLock):
    """The seed's lock plus a fencing token (the fix for a holder that outlives its lease).

    Acquiring runs SET NX EX and ``INCR key:fence`` in one script, so tokens grow in the order the lock was
    granted; the holder sends its token with every access to the protected resource, which refuses an older
    token than one it has seen.  The busy-wait and the release are the seed's.

    Args: as :class:`RedisLock`.
    """

    def __init__(self, redis_client: Redis, key: str, timeout: int = 10, *, clock: HostClock,
                 rng: np.random.Generator) -> None:
        super().__init__(redis_client, key, timeout, clock=clock, rng=rng)
        self.fence_key = f"{key}:fence"

    def acquire(self) -> Gen:
        """Generator: True once the lock is ours (:attr:`token` set), False after ``timeout`` seconds."""
        clock = self.clock
        end = clock.time() + self.timeout
        while clock.time() < end:
            token = yield from self.redis.eval(FENCED_ACQUIRE_LUA, 2, self.key, self.fence_key, self.identifier,
                                               self.timeout)
            if token is not None:
                self.token = int(token)
                return True
            yield clock.sleep(self.poll)
        return False


# ------------------------------------------------------------------ Redlock
class Redlock:
    """Redlock over N independent Redis masters (the algorithm of the Redis documentation's distributed-locks page).

    Each attempt: read the clock, SET key value NX PX ttl on every node in turn (a node that fails or times out
    counts as a no), read the clock again.  The lock is held when a majority said yes and the validity
    ``ttl - elapsed - (ttl * drift_factor + 2 ms)`` is positive; otherwise every node is released and the
    attempt is retried after a random delay, until ``timeout`` seconds have passed.

    Args:
        clients: one client per Redis node (each with a short socket timeout, so a dead node costs little).
        key: the lock's key.
        ttl: the lock's time to live, seconds (PX: milliseconds).
        clock: the host's clock (elapsed time and the acquire deadline are measured with it).
        rng: the stream of the identifier and the retry delays.
        timeout: seconds to keep trying (default: ``ttl``).
        retry_delay: retries wait uniform(0, retry_delay) seconds.
        drift_factor: the clock drift the validity allows for, as a fraction of the ttl.
    """

    def __init__(self, clients: list[Redis], key: str, ttl: float = 10.0, *, clock: HostClock,
                 rng: np.random.Generator, timeout: float | None = None, retry_delay: float = 0.2,
                 drift_factor: float = 0.01) -> None:
        if not clients:
            raise ValueError("Redlock needs at least one Redis node")
        self.clients = clients
        self.key = key
        self.ttl = float(ttl)
        self.clock = clock
        self.rng = rng
        self.timeout = self.ttl if timeout is None else float(timeout)
        self.retry_delay = retry_delay
        self.drift_factor = drift_factor
        self.quorum = len(clients) // 2 + 1
        self.identifier = str(uuid4(rng))
        self.token: int | None = None
        #: seconds the last successful acquire said the lock is valid for
        self.validity = 0.0

    def acquire(self) -> Gen:
        """Generator: True once a majority granted the lock in time (:attr:`validity` set), else False."""
        clock = self.clock
        end = clock.time() + self.timeout
        ttl_ms = max(1, int(self.ttl * 1000))
        while True:
            start = clock.time()
            n = 0
            for r in self.clients:
                try:
                    if (yield from r.set(self.key, self.identifier, nx=True, px=ttl_ms)):
                        n += 1
                except (ConnectionError, TimeoutError):
                    pass
            drift = self.ttl * self.drift_factor + 0.002
            validity = self.ttl - (clock.time() - start) - drift
            if n >= self.quorum and validity > 0:
                self.validity = validity
                return True
            yield from self.release()
            if clock.time() >= end:
                return False
            yield clock.sleep(float(self.rng.uniform(0, self.retry_delay)))

    def release(self) -> Gen:
        """Generator: compare-and-delete on every node (errors ignored: the lock expires there anyway)."""
        for r in self.clients:
            try:
                yield from r.eval(SEED_RELEASE_LUA, 1, self.key, self.identifier)
            except (ConnectionError, TimeoutError):
                pass


class ClockedRedisServer(RedisServer):
    """A Redis server whose expiry clock is a :class:`~simcache.sim.simtime.HostClock` (offset, drift, jumps).

    Redis expires keys by its own wall clock; move :attr:`clock`'s ``offset`` forward (an NTP step, an operator
    fixing the time) and every TTL on the node ends early by that much; a positive ``drift`` ends them early in
    proportion.  Other arguments as :class:`~simcache.sim.redis.RedisServer`.

    Args:
        clock: the node's clock (default: true time, read as ``unix_start`` + simulated time).
    """

    def __init__(self, world: World, name: str = "redis", node: str | None = None, *, clock: HostClock | None = None,
                 **kwargs: Any) -> None:
        self.clock = clock if clock is not None else HostClock(world.env, epoch=float(kwargs.get("unix_start", 0.0)))
        super().__init__(world, name, node, **kwargs)

    def mstime(self) -> int:
        ms = self.clock.time() * 1000.0
        r = round(ms)
        return int(r) if abs(ms - r) < 1e-6 else math.floor(ms)

    def unix_now(self) -> float:
        return self.clock.time()


# ------------------------------------------------------- the protected resource
class StaleToken(ResponseError):
    """The protected store refused an access whose fencing token is older than one it has seen."""


class ProtectedStore(Server):
    """The shared resource a lock protects: versioned values; with fencing, tokens checked on every access.

    Commands:

    * ``READ key [token]`` -> ``(value, version)``;
    * ``WRITE key holder value base_version [token]`` -> the new version.

    With a token, an access whose token is lower than the highest this store has seen for the key is refused
    (error ``STALE ...``) and counted (:attr:`rejected_reads`, :attr:`rejected_writes`).  A write that is applied
    while its ``base_version`` (the version its holder read) is no longer the current one overwrites a change
    its holder never saw: a lost update, counted in :attr:`corrupted_writes`.  :attr:`history` keeps
    ``(time, key, holder, token, outcome)`` for every write, outcome ``ok``, ``corrupted`` or ``refused``.

    Args:
        world: the simulation world.
        name: component name (also its node unless ``node`` is given).
        node: network node.
        service: service time of one access.
    """

    def __init__(self, world: World, name: str = "store", node: str | None = None,
                 service: str | float = "const:0.0001") -> None:
        super().__init__(world, name, node, service)
        self.values: dict[Any, tuple[Any, int]] = {}
        self.max_token: dict[Any, int] = {}
        self.history: list[tuple[float, Any, str, int | None, str]] = []
        self.writes = 0
        self.rejected_reads = 0
        self.rejected_writes = 0
        self.corrupted_writes = 0
        self.watch()

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(writes=self.writes, rejected_reads=self.rejected_reads, rejected_writes=self.rejected_writes,
                 corrupted_writes=self.corrupted_writes)
        return d

    def _fence(self, key: Any, token: int | None) -> bool:
        """Whether an access with ``token`` may go ahead (and remember the highest token seen)."""
        if token is None:
            return True
        if token < self.max_token.get(key, -1):
            return False
        self.max_token[key] = token
        return True

    @command("READ")
    def _read(self, key: Any, token: int | None = None) -> tuple[Any, int]:
        if not self._fence(key, token):
            self.rejected_reads += 1
            raise ReplyError(f"STALE token {token} is older than {self.max_token[key]}")
        return self.values.get(key, (0, 0))

    @command("WRITE")
    def _write(self, key: Any, holder: str, value: Any, base: int, token: int | None = None) -> int:
        now = self.env.now
        if not self._fence(key, token):
            self.rejected_writes += 1
            self.history.append((now, key, holder, token, "refused"))
            self.world.recorder.count(self.name, "rejected_writes", now)
            raise ReplyError(f"STALE token {token} is older than {self.max_token[key]}")
        _, version = self.values.get(key, (0, 0))
        outcome = "ok"
        if base != version:
            self.corrupted_writes += 1
            outcome = "corrupted"
            self.world.recorder.count(self.name, "corrupted_writes", now)
        self.values[key] = (value, version + 1)
        self.writes += 1
        self.history.append((now, key, holder, token, outcome))
        return version + 1


class StoreClient:
    """The protected store's driver, run on a host: ``value, version = yield from store.read(key, token)``.

    Args:
        world: the simulation world.
        host: the component the caller runs on (its pauses delay the caller after each reply).
        store: the store.
        timeout: seconds to wait for an answer (None: forever).
    """

    def __init__(self, world: World, host: Component, store: ProtectedStore, timeout: float | None = None) -> None:
        self.world = world
        self.host = host
        self.store = store
        self._deadlines = Deadlines(world.env, timeout, "store timeout") if timeout else None

    def _call(self, cmd: tuple[Any, ...]) -> Gen:
        try:
            value = yield from call(self.world, self.host.node, self.store, cmd, deadlines=self._deadlines)
        except ResponseError as err:
            if str(err).startswith("STALE"):
                raise StaleToken(str(err)) from None
            raise
        yield from pause_gate(self.host)
        return value

    def read(self, key: Any, token: int | None = None) -> Gen:
        """``(value, version)`` of ``key``; raises :class:`StaleToken` when ``token`` is too old."""
        return self._call(("READ", key) if token is None else ("READ", key, token))

    def write(self, key: Any, holder: str, value: Any, base: int, token: int | None = None) -> Gen:
        """Write ``value`` computed from version ``base``; the new version (raises :class:`StaleToken`)."""
        return self._call(("WRITE", key, holder, value, base) if token is None
                          else ("WRITE", key, holder, value, base, token))


# ------------------------------------------------------------- observation
class HoldMonitor:
    """Who believes they hold the lock, in true time: counts double holds and the time they overlap.

    A contender *holds* from the moment its ``acquire`` returned True until it starts its release (or dies).

    Args:
        world: the simulation world (counts go to its recorder under ``name``).
        name: the recorder component name.
    """

    def __init__(self, world: World, name: str = "lock") -> None:
        self.world = world
        self.name = name
        self.holders: dict[str, float] = {}
        #: (holder, start, end) of every finished hold
        self.intervals: list[tuple[str, float, float]] = []
        self.acquisitions = 0
        #: acquisitions made while another contender still believed it held the lock
        self.double_holds = 0
        #: seconds during which two or more contenders believed they held the lock
        self.overlap = 0.0
        self._since = 0.0

    def enter(self, who: str) -> None:
        """``who`` now believes it holds the lock."""
        now = self.world.env.now
        rec = self.world.recorder
        self.acquisitions += 1
        rec.count(self.name, "acquisitions", now)
        if self.holders:
            self.double_holds += 1
            rec.count(self.name, "double_holds", now)
            if len(self.holders) == 1:
                self._since = now
        self.holders[who] = now

    def leave(self, who: str) -> None:
        """``who`` no longer believes it holds the lock."""
        start = self.holders.pop(who, None)
        if start is None:
            return
        now = self.world.env.now
        self.intervals.append((who, start, now))
        if len(self.holders) == 1:
            self.overlap += now - self._since
            self.world.recorder.count(self.name, "overlap_seconds", now, now - self._since)


class HoldObserver(Protocol):
    """What :func:`critical_section` tells about holds (a :class:`HoldMonitor`, or a wrapper of one)."""

    def enter(self, who: str) -> None: ...

    def leave(self, who: str) -> None: ...


def critical_section(lock: Any, host: Component, store: StoreClient, monitor: HoldObserver, who: str,
                     work: float = 0.0, pause: float = 0.0, resource: str = "counter") -> Gen:
    """Generator: one use of the lock as an app makes it — acquire, read-modify-write the resource, release.

    The holder reads the resource (with its fencing token, if the lock gives one), stops for ``pause`` seconds
    (a GC pause of its host) and works ``work`` seconds, writes the value it read plus one, and releases.

    Returns:
        ``"timeout"`` (never acquired), ``"ok"`` (written), or ``"refused"`` (the store refused its token).
    """
    if not (yield from lock.acquire()):
        return "timeout"
    monitor.enter(who)
    try:
        value, version = yield from store.read(resource, lock.token)
        if pause > 0:
            host.pause(pause)
        yield from busy(host, work)
        yield from store.write(resource, who, value + 1, version, lock.token)
        outcome = "ok"
    except StaleToken:
        outcome = "refused"
    except (simpy.Interrupt, GeneratorExit):
        monitor.leave(who)  # the host died (or the run ended): nothing of this process runs any more
        raise
    except Exception:
        monitor.leave(who)  # the store failed: release, as a try/finally would, and pass the error on
        yield from lock.release()
        raise
    monitor.leave(who)
    yield from lock.release()
    return outcome


# ------------------------------------------------------------------ figures
def lock_figure(result: SimResult, out_dir: str | Path) -> list[Path]:
    """Write ``lock_timeline.png``: per window, acquisitions and double holds, the store's refused and
    corrupted writes, and the Redis command rate; return the paths.  ``result`` is a ``lock`` model run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = result.timeseries
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)

    def series(comp: str, metric: str) -> Any:
        d = ts[(ts.component == comp) & (ts.metric == metric)]
        return d.time, d.value

    width = _bar_width(ts) / 2
    for i, (metric, color) in enumerate((("acquisitions", "tab:blue"), ("double_holds", "tab:red"))):
        t, v = series("lock", metric)
        axes[0].bar(t + i * width, v, width=width, align="edge", label=metric.replace("_", " "), color=color)
    axes[0].set_ylabel("per window")
    axes[0].set_title(f"Lock holds ({result.summary.get('lock', '?')}): double holds "
                      f"{result.summary.get('double_holds', 0)}")
    axes[0].legend()
    for i, (metric, color) in enumerate((("rejected_writes", "tab:green"), ("corrupted_writes", "tab:red"))):
        t, v = series("store", metric)
        axes[1].bar(t + i * width, v, width=width, align="edge", label=metric.replace("_", " "), color=color)
    axes[1].set_ylabel("writes per window")
    axes[1].set_title("Protected store")
    axes[1].legend()
    rates = ts[(ts.metric == "commands_rate") & ts.component.str.startswith("redis")]
    for comp, d in rates.groupby("component"):
        axes[2].plot(d.time, d.value, label=str(comp))
    axes[2].set_ylabel("commands/s")
    axes[2].set_xlabel("simulated time (s)")
    axes[2].set_title("Redis load")
    axes[2].legend()
    fig.tight_layout()
    p = out / "lock_timeline.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


def _bar_width(ts: Any) -> float:
    times = sorted(set(ts.time.tolist()))
    return 0.8 * (times[1] - times[0]) if len(times) > 1 else 0.8
