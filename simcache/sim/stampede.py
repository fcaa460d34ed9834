"""Cache stampedes: the seed's ``StampedeProtection`` line for line, its flaws shown, and the protections beside it.

The seed (``shared/seed/caching-and-data-stores.md``, "Cache Stampede
Prevention") guards a recompute with a Redis lock: ``SET lock:{key} 1 NX EX
30``; the holder computes, ``SETEX``\\ es the value and, in ``finally``,
deletes the lock; everyone else sleeps 0.1 s and calls itself again.
:class:`StampedeProtection` is that code statement by statement, with
``yield from`` at each remote call and ``yield time.sleep(0.1)`` for the
host's sleep.  Its flaws are kept, and each is made to happen by a test:

(a) the ``finally`` deletes the lock whoever holds it: when a compute
    outlasts the 30 s lock, a second request takes the expired lock, and the
    first one's delete then removes *that* lock, so a third compute starts
    while the second still runs (two computes at once, beyond the expiry);
(b) every waiter polls the cache (a GET and a SET NX) every 100 ms plus two
    round trips: N waiters over D seconds add about 2·N·D/0.1 commands;
(c) the retry is a recursive call: one more generator frame per poll
    (100 ms of sleep plus two round trips), so a waiter reaches Python's
    recursion limit (``sys.getrecursionlimit()``).  With the default 1000,
    in a simulation run from a script, the bare limit is hit after 970 polls
    (101 s of waiting with 1 ms links); the simulation raises the
    :class:`RecursionError` :data:`CALL_FRAMES` frames before it, at the
    cache call (after 935 polls, 97 s), because raised deeper it would
    leave the simulated client or server half-way through a command.  The
    request fails with :class:`RecursionDepthError` (that request's error;
    the run goes on);
(d) a crash of the lock holder (its app crashes, so its ``finally`` never
    runs) leaves the lock in place: every waiter polls until it expires 30 s
    after it was taken.

The protections compared on the same workload (:data:`PROTECTIONS`):

============== =================================================================
none           cache-aside: every request that misses recomputes
seed-lock      the seed's ``StampedeProtection.get_or_compute``
single-flight  one recompute per key per app process (the others wait for it);
               with ``scope="global"``, also one across processes: a lock
               in the cache with a token (released only by its holder),
               one poller per process
xfetch         probabilistic early recomputation (Vattani et al.): recompute
               when ``now - delta * beta * ln(U) >= expiry``, ``delta`` the
               measured recompute time stored with the value, ``U`` uniform
               from the app's own random stream
swr            stale-while-revalidate: fresh until the soft TTL (``ttl``),
               then served stale while one background refresh (a lock in the
               cache) recomputes, until the hard TTL (``ttl + stale``)
jitter         cache-aside with each fill's TTL drawn from
               ``ttl * (1 - jitter * U)``, so keys filled together do not
               expire together
lease          Facebook-style leases, as Redis scripts: a miss gets a token,
               at most one token per key per ``lease_ttl`` (10 s) seconds;
               other misses wait ``poll`` seconds and retry (or take the
               stale copy); a set needs the key's current token; a delete
               invalidates it
============== =================================================================

Every recompute is a database query (``DatabaseClient.get``), so its
duration is the database's read service time plus the network.  What
happens is observed by a :class:`StampedeMeter`: recomputes grouped into
expiries (a group opens with a recompute of a key none is open for, and
closes when the first of its recomputes has filled the cache), computes
running at once, polls and the cache commands made while waiting.  Theory
for the three that have a closed form is below (:func:`expected_recomputes_none`,
:func:`expected_recomputes_single_flight`, :func:`expected_recomputes_xfetch`),
and the figures at the end (:func:`timeline_figure`,
:func:`comparison_figure`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import numpy as np
import simpy

from simcache.sim.database import DatabaseClient
from simcache.sim.dists import uniform_sampler
from simcache.sim.redis import Redis, Script, register_lua
from simcache.sim.rpc import RemoteError
from simcache.sim.seed import SeedCache
from simcache.sim.simtime import HostClock
from simcache.sim.world import World

Gen = Generator[simpy.Event, Any, Any]

#: frames one cache call may need below its caller (client, network, and the server's handler, which the
#: fast engine runs on the caller's stack); the recursion guard keeps this many free (tests check it suffices)
CALL_FRAMES = 50


class RecursionDepthError(RemoteError):
    """The app's code ran into Python's recursion limit; the request fails with this error (the run goes on)."""


def check_depth() -> None:
    """Raise :class:`RecursionError` when a remote call made here could run out of frames (see :data:`CALL_FRAMES`)."""
    if frame_depth() + CALL_FRAMES > sys.getrecursionlimit():
        raise RecursionError("maximum recursion depth exceeded")


def frame_depth() -> int:
    """How many Python frames are on the stack of the caller (generators resumed by ``yield from`` included)."""
    f = sys._getframe(1)
    n = 0
    while f is not None:
        n += 1
        f = f.f_back  # type: ignore[assignment]
    return n


# ============================================================== observation
class StampedeMeter:
    """What the protections do, observed: recomputes grouped into expiries, overlaps, polls, waiting load.

    An *expiry* of a key opens with a recompute of the key when none is open
    for it, gathers every recompute that starts while it is open, and closes
    when one of them has filled the cache.  Expiries opened before the
    recorder's warmup, and any still open at the end, are left out of the
    summary.

    Args:
        world: the simulation world (its recorder gets windowed counts: component ``stampede``, metrics
            ``expiries``, ``recomputes``, ``polls``, ``waiting_cache_calls``).
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.recorder
        self.in_flight: dict[Any, int] = {}
        #: key -> [opened at, recomputes so far] of its open expiry
        self.open: dict[Any, list[float]] = {}
        #: closed expiries: (key, opened at, recomputes)
        self.expiries: list[tuple[Any, float, int]] = []
        self.recomputes = 0
        self.failed = 0
        #: recomputes that started while another recompute of the same key ran
        self.overlapping = 0
        self.max_in_flight = 0
        self.polls = 0
        self.cache_calls = 0
        self.waiting_cache_calls = 0
        #: process -> its polls so far, for processes waiting now
        self._waiting: dict[simpy.Process, int] = {}
        #: (seconds the request had been running, polls it had made) at each recursion error
        self.recursion_errors: list[tuple[float, int]] = []

    # ------------------------------------------------------------ events
    def started(self, key: Any) -> None:
        """A recompute of ``key`` starts."""
        now = self.env.now
        n = self.in_flight.get(key, 0)
        if n:
            self.overlapping += 1
        self.in_flight[key] = n + 1
        self.max_in_flight = max(self.max_in_flight, n + 1)
        cyc = self.open.get(key)
        if cyc is None:
            cyc = self.open[key] = [now, 0]
            self.rec.count("stampede", "expiries", now)
        cyc[1] += 1
        self.recomputes += 1
        self.rec.count("stampede", "recomputes", now)

    def ended(self, key: Any, ok: bool) -> None:
        """A recompute of ``key`` ended (``ok``: it returned a value)."""
        self.in_flight[key] -= 1
        if not ok:
            self.failed += 1

    def filled(self, key: Any) -> None:
        """A recomputed value of ``key`` is in the cache: its open expiry closes."""
        cyc = self.open.pop(key, None)
        if cyc is not None:
            self.expiries.append((key, cyc[0], int(cyc[1])))

    def recompute(self, key: Any, fn: Callable[[], Gen]) -> Gen:
        """Run the recompute ``fn()`` (a generator function) as one observed recompute of ``key``."""
        self.started(key)
        try:
            value = yield from fn()
        except BaseException:
            self.ended(key, False)
            raise
        self.ended(key, True)
        return value

    def poll(self) -> None:
        """The active process waits to look again (its cache calls from now on are waiting load)."""
        self.polls += 1
        proc = self.env.active_process
        if proc is not None:
            self._waiting[proc] = self._waiting.get(proc, 0) + 1
        self.rec.count("stampede", "polls", self.env.now)

    def cache_call(self) -> None:
        """The active process sends a command (or a pipeline, or a script) to the cache."""
        self.cache_calls += 1
        if self.env.active_process in self._waiting:
            self.waiting_cache_calls += 1
            self.rec.count("stampede", "waiting_cache_calls", self.env.now)

    def polls_of_active(self) -> int:
        """How many times the active process has polled in its current request."""
        return self._waiting.get(self.env.active_process, 0)  # type: ignore[arg-type]

    def request_done(self) -> None:
        """The active process's request is over."""
        proc = self.env.active_process
        if proc is not None:
            self._waiting.pop(proc, None)

    def recursion_error(self, waited: float) -> None:
        """The active process's request ran into the recursion limit after ``waited`` seconds."""
        self.recursion_errors.append((waited, self.polls_of_active()))
        self.rec.count("stampede", "recursion_errors", self.env.now)

    # ------------------------------------------------------------ results
    def counts(self) -> list[int]:
        """Recomputes of each closed expiry opened after the warmup, in order."""
        warm = self.rec.warmup
        return [n for _, t, n in self.expiries if t >= warm]

    def summary(self) -> dict[str, Any]:
        """Recomputes per expiry (mean, 95 % confidence half-width, max, expiries) and the other counts."""
        c = np.asarray(self.counts(), dtype=float)
        per: dict[str, Any] = {"mean": float(c.mean()) if c.size else math.nan, "expiries": int(c.size),
                               "recomputes": int(c.sum()), "max": int(c.max()) if c.size else 0}
        per["ci95"] = float(1.96 * c.std(ddof=1) / math.sqrt(c.size)) if c.size > 1 else math.nan
        rec = self.rec
        return {
            "recomputes_per_expiry": per,
            "recomputes": int(rec.total("stampede", "recomputes")),
            "overlapping_recomputes": self.overlapping,
            "max_concurrent_recomputes": self.max_in_flight,
            "wait_polls": int(rec.total("stampede", "polls")),
            "waiting_cache_commands": int(rec.total("stampede", "waiting_cache_calls")),
            "recursion_errors": {"count": len(self.recursion_errors),
                                 "first_after_s": min((w for w, _ in self.recursion_errors), default=math.nan),
                                 "polls": min((n for _, n in self.recursion_errors), default=0)},
        }


class MeteredCache(SeedCache):
    """The seed's ``cache`` object (:class:`~simcache.sim.seed.SeedCache`), observed by a :class:`StampedeMeter`.

    Every call is counted (as waiting load when its process is waiting), and two
    facts of the simulated host are enforced before it is sent:

    * a process of a crashed app runs no more code: a call from one (its
      ``finally`` clause unwinding the crash) raises the crash again instead
      of reaching the cache, as a killed process sends nothing; so does a
      process closed at the end of the run;
    * Python's recursion limit: a call that would need more frames than are
      left raises :class:`RecursionError` at the call, where no state of the
      simulated client or server is half-changed (:data:`CALL_FRAMES`).

    ``setex`` is the seed's fill: the meter learns when it has landed.

    Args:
        redis: the redis-py-like client (its ``host`` is the app).
        meter: the observer.
    """

    def __init__(self, redis: Redis, meter: StampedeMeter) -> None:
        super().__init__(redis)
        self.meter = meter

    def enter(self) -> None:
        """Checks and counting before one call (see the class docstring)."""
        host = self.redis.host
        if host is not None and not host.up:
            raise simpy.Interrupt("crash")
        if isinstance(sys.exc_info()[1], GeneratorExit):
            raise GeneratorExit  # the run ended with this process in a ``finally``: it sends nothing more
        check_depth()
        self.meter.cache_call()

    def get(self, key: Any) -> Any:
        self.enter()
        return super().get(key)

    def set(self, key: Any, value: Any, ttl: float | None = None, **kwargs: Any) -> Any:
        self.enter()
        return super().set(key, value, ttl, **kwargs)

    def delete(self, *keys: Any) -> Any:
        self.enter()
        return super().delete(*keys)

    def setex(self, name: Any, time: Any, value: Any) -> Any:
        self.enter()
        return self._filled(name, self.redis.setex(name, time, value))

    def _filled(self, key: Any, gen: Gen) -> Gen:
        reply = yield from gen
        self.meter.filled(key)
        return reply

    def execute(self, pipe: Any) -> Any:
        """``pipe.execute()``, counted as one call."""
        self.enter()
        return pipe.execute()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.redis, name)
        if not callable(attr) or name in ("pipeline", "register_script"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.enter()
            return attr(*args, **kwargs)

        return call


class SimTime:
    """The ``time`` module as the seed's code sees it on its host: ``time()`` reads the host's clock,
    ``sleep(s)`` is an event to yield (and tells the meter the process is polling)."""

    def __init__(self, clock: HostClock, meter: StampedeMeter) -> None:
        self.clock = clock
        self.meter = meter

    def time(self) -> float:
        return self.clock.time()

    def sleep(self, seconds: float) -> simpy.Timeout:
        self.meter.poll()
        return self.clock.sleep(seconds)


# ============================================================== the seed
class StampedeProtection:
    """The seed's ``StampedeProtection``, line for line (its flaws kept: see the module docstring).

    Args:
        cache: the seed's ``cache`` object (a :class:`~simcache.sim.seed.SeedCache`).
        time: the host's ``time`` module (:class:`SimTime`).
    """

    def __init__(self, cache: SeedCache, time: SimTime) -> None:
        self.cache = cache
        self.time = time

    def get_or_compute(self, key: Any, compute_fn: Callable[[], Gen], ttl: int = 3600) -> Gen:
        value = yield from self.cache.get(key)
        if value is not None:
            return value

        # Try to acquire lock
        lock_key = f'lock:{key}'
        if (yield from self.cache.set(lock_key, '1', nx=True, ex=30)):
            try:
                # We have the lock, compute value
                value = yield from compute_fn()
                yield from self.cache.setex(key, ttl, value)
                return value
            finally:
                yield from self.cache.delete(lock_key)
        else:
            # Someone else is computing, wait and retry
            yield self.time.sleep(0.1)
            return (yield from self.get_or_compute(key, compute_fn, ttl))


# ============================================================== scripts
#: compare-and-delete: a lock is released only by the holder of its token
RELEASE = """-- simcache stampede: release a lock only by its holder
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""

#: lease-get: KEYS = key, lease key, stale copy, token counter; ARGV = lease ms -> {value, token, stale}
LEASE_GET = """-- simcache stampede: lease-get (the value; or a new lease token; or a hot miss, with the stale copy)
local v = redis.call('GET', KEYS[1])
if v then return {v, 0, false} end
local stale = redis.call('GET', KEYS[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local token = redis.call('INCR', KEYS[4])
  redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
  return {false, token, stale}
end
return {false, 0, stale}
"""

#: lease-set: KEYS = key, lease key, stale copy; ARGV = token, value, ttl ms, stale copy ms -> 1 if it was set.
#: The token is used up ("0", tokens count from 1) but the lease key keeps its expiry: no new token before it.
LEASE_SET = """-- simcache stampede: lease-set (only with the key's outstanding token)
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
redis.call('SET', KEYS[2], '0', 'KEEPTTL')
return 1
"""

#: lease-delete: KEYS = key, lease key -> keys deleted.  An outstanding token is invalidated (its lease key keeps
#: its expiry, so the token rate stays); the stale copy stays for hot misses.
LEASE_DELETE = """-- simcache stampede: delete a key and invalidate its lease token
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SET', KEYS[2], '0', 'KEEPTTL') end
return redis.call('DEL', KEYS[1])
"""


@register_lua(RELEASE)
def _release(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    return redis.call("del", keys[0]) if redis.call("get", keys[0]) == args[0] else 0


@register_lua(LEASE_GET)
def _lease_get(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    v = redis.call("GET", keys[0])
    if v is not None:
        return [v, 0, False]
    stale = redis.call("GET", keys[2])
    stale = False if stale is None else stale  # Lua sees a nil reply as false
    if redis.call("EXISTS", keys[1]) == 0:
        token = redis.call("INCR", keys[3])
        redis.call("SET", keys[1], token, "PX", args[0])
        return [False, token, stale]
    return [False, 0, stale]


@register_lua(LEASE_SET)
def _lease_set(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    if redis.call("GET", keys[1]) != args[0]:
        return 0
    redis.call("SET", keys[0], args[1], "PX", args[2])
    redis.call("SET", keys[2], args[1], "PX", args[3])
    redis.call("SET", keys[1], "0", "KEEPTTL")
    return 1


@register_lua(LEASE_DELETE)
def _lease_delete(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    if redis.call("EXISTS", keys[1]) == 1:
        redis.call("SET", keys[1], "0", "KEEPTTL")
    return redis.call("DEL", keys[0])


# ============================================================== protections
Scope = Literal["process", "global"]
SCOPES = ("process", "global")


@dataclass(frozen=True)
class StampedeConfig:
    """Settings of the protections (seconds).

    Args:
        ttl: a fill's TTL (the seed-lock takes whole seconds, as SETEX does); for swr the soft TTL.
        beta: XFetch's beta (> 0; larger recomputes earlier).
        jitter: TTL jitter, a fraction in [0, 1): a fill's TTL is ``ttl * (1 - jitter * U)``.
        stale: how long a value may be served stale after ``ttl`` (swr's hard TTL is ``ttl + stale``; the lease's
            stale copy lives as long).
        lease_ttl: how long a lease token is outstanding at most (one token per key in that time).
        lease_stale: on a hot miss, take the stale copy (when there is one) instead of waiting.
        poll: seconds a waiter sleeps before looking again (lease, single-flight with global scope).
        scope: single-flight within each app ``process``, or ``global`` across processes (a lock in the cache).
        lock_ttl: expiry of the cache-side locks of single-flight (global) and swr's refresh.
    """

    ttl: float = 3600.0
    beta: float = 1.0
    jitter: float = 0.1
    stale: float = 60.0
    lease_ttl: float = 10.0
    lease_stale: bool = False
    poll: float = 0.05
    scope: Scope = "process"
    lock_ttl: float = 30.0

    def __post_init__(self) -> None:
        for f in ("ttl", "beta", "lease_ttl", "poll", "lock_ttl"):
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{f} must be a number > 0, got {v!r}")
        if not (isinstance(self.stale, int | float) and math.isfinite(self.stale) and self.stale >= 0):
            raise ValueError(f"stale must be a number >= 0 seconds, got {self.stale!r}")
        if not (isinstance(self.jitter, int | float) and 0 <= self.jitter < 1):
            raise ValueError(f"jitter must be a fraction in [0, 1), got {self.jitter!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class Protection:
    """Base of the protections: the strategy interface an :class:`~simcache.sim.app.App` runs.

    ``get(key)`` runs :meth:`lookup` (what each protection overrides), turns a
    :class:`RecursionError` into the request's :class:`RecursionDepthError`,
    and ends the request's waiting state; ``set(key, value)`` commits to the
    database, then invalidates.  The recompute is ``db.get(key)``, observed
    by the meter.

    Args:
        cache: the metered seed ``cache`` object (its ``host`` is the app).
        db: the database client (on the app).
        meter: the observer.
        config: the settings.
        clock: the host's clock (default: true time).
        rng: the host's random stream for this protection (xfetch, jitter).
    """

    name: ClassVar[str] = ""

    def __init__(self, cache: MeteredCache, db: DatabaseClient, meter: StampedeMeter, config: StampedeConfig,
                 clock: HostClock | None = None, rng: np.random.Generator | None = None) -> None:
        self.cache = cache
        self.db = db
        self.meter = meter
        self.config = config
        self.host = cache.host
        self.env: simpy.Environment = self.host.env
        self.clock = clock if clock is not None else HostClock(self.env)
        self.time = SimTime(self.clock, meter)
        self.rng = rng
        self.loading: dict[Any, simpy.Event] = {}
        self.coalesced = 0
        self._tokens = 0

    # ------------------------------------------------------ strategy API
    def get(self, key: Any) -> Gen:
        t0 = self.env.now
        try:
            return (yield from self.lookup(key))
        except RecursionError:
            waited = self.env.now - t0
            self.meter.recursion_error(waited)
            raise RecursionDepthError(f"maximum recursion depth exceeded after {waited:.1f} s of waiting "
                                      f"(recursion limit {sys.getrecursionlimit()})") from None
        finally:
            self.meter.request_done()

    def set(self, key: Any, value: Any) -> Gen:
        """A write: commit to the database, then invalidate the cached copy."""
        yield from self.db.set(key, value)
        yield from self.invalidate(key)

    # ------------------------------------------------------ building blocks
    def lookup(self, key: Any) -> Gen:
        raise NotImplementedError

    def invalidate(self, key: Any) -> Gen:
        return (yield from self.cache.delete(key))

    def recompute(self, key: Any) -> Gen:
        """The recompute: a database query, observed by the meter."""
        check_depth()
        return (yield from self.meter.recompute(key, lambda: self.db.get(key)))

    def fill_ttl(self) -> float:
        return self.config.ttl

    def fill(self, key: Any, value: Any, delta: float) -> Gen:
        """Put a recomputed ``value`` (that took ``delta`` seconds) in the cache."""
        yield from self.cache.set(key, value, px=_ms(self.fill_ttl()))
        self.meter.filled(key)

    def prefill(self, key: Any, value: Any, delta: float) -> Gen:
        """Fill ``key`` before the run (keys filled together), as a recompute of ``delta`` seconds would."""
        yield from self.fill(key, value, delta)

    def load_and_fill(self, key: Any) -> Gen:
        start = self.clock.time()
        value = yield from self.recompute(key)
        yield from self.fill(key, value, self.clock.time() - start)
        return value

    def single_flight(self, key: Any, load: Callable[[Any], Gen]) -> Gen:
        """Run ``load(key)`` once per key in this process at a time; concurrent callers wait for its value."""
        pending = self.loading.get(key)
        if pending is not None:
            self.coalesced += 1
            return (yield pending)
        done = self.loading[key] = self.env.event()
        try:
            value = yield from load(key)
        except Exception as err:
            done.fail(err)
            done.defused = True
            raise
        finally:
            if self.loading.get(key) is done:
                del self.loading[key]
        done.succeed(value)
        return value

    def token(self) -> str:
        """A lock token unique in the world (app name and a counter)."""
        self._tokens += 1
        return f"{getattr(self.host, 'name', self.host)}:{self._tokens}"

    def uniform(self) -> Callable[[], float]:
        if self.rng is None:
            raise ValueError(f"protection {self.name!r} needs a random stream (rng)")
        return uniform_sampler(self.rng)


class NoProtection(Protection):
    """Cache-aside: a miss recomputes and fills, whoever else is recomputing."""

    name = "none"

    def lookup(self, key: Any) -> Gen:
        value = yield from self.cache.get(key)
        if value is not None:
            return value
        return (yield from self.load_and_fill(key))


class TTLJitter(NoProtection):
    """Cache-aside whose fills draw their TTL from ``ttl * (1 - jitter * U)`` (U uniform on [0, 1))."""

    name = "jitter"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._u = self.uniform()

    def fill_ttl(self) -> float:
        return self.config.ttl * (1.0 - self.config.jitter * self._u())


class SeedLock(Protection):
    """The seed's :class:`StampedeProtection` as a strategy (``ttl`` in whole seconds, as its SETEX takes)."""

    name = "seed-lock"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not float(self.config.ttl).is_integer():
            raise ValueError(f"seed-lock: ttl must be whole seconds (the seed's SETEX takes seconds), "
                             f"got {self.config.ttl!r}")
        self.seed = StampedeProtection(self.cache, self.time)

    def lookup(self, key: Any) -> Gen:
        return (yield from self.seed.get_or_compute(key, lambda: self.recompute(key), int(self.config.ttl)))

    def fill(self, key: Any, value: Any, delta: float) -> Gen:
        yield from self.cache.setex(key, int(self.config.ttl), value)


class SingleFlight(Protection):
    """Request coalescing: one recompute per key in each app process (``scope="process"``), or across
    processes (``scope="global"``) through a lock in the cache, taken with a token and released only by its
    holder; one waiter per process polls the cache every ``poll`` seconds meanwhile."""

    name = "single-flight"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = Script(cast(Any, self.cache), RELEASE)

    def lookup(self, key: Any) -> Gen:
        value = yield from self.cache.get(key)
        if value is not None:
            return value
        load = self.load_and_fill if self.config.scope == "process" else self.locked_load
        return (yield from self.single_flight(key, load))

    def locked_load(self, key: Any) -> Gen:
        lock_key = f"lock:{key}"
        token = self.token()
        while True:
            if (yield from self.cache.set(lock_key, token, nx=True, px=_ms(self.config.lock_ttl))):
                try:
                    return (yield from self.load_and_fill(key))
                finally:
                    yield from self._release(keys=[lock_key], args=[token])
            yield self.time.sleep(self.config.poll)
            value = yield from self.cache.get(key)
            if value is not None:
                return value


class XFetch(Protection):
    """Probabilistic early recomputation (XFetch): recompute when ``now - delta * beta * ln(U) >= expiry``.

    The cached form is a hash: the value (``v``), the measured recompute time
    (``d``, seconds) and the expiry on the writer's clock (``e``), with the
    key's TTL set in the same transaction.  The request that decides to
    recompute does it (and waits for it), as in the paper's pseudocode.
    """

    name = "xfetch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._u = self.uniform()

    def lookup(self, key: Any) -> Gen:
        value, delta, expiry = yield from self.cache.hmget(key, ["v", "d", "e"])
        # U in (0, 1]: ln(U) <= 0, so the left side runs ahead of now by delta * beta * (-ln U)
        if value is None or self.clock.time() - float(delta) * self.config.beta * math.log(1.0 - self._u()) \
                >= float(expiry):
            start = self.clock.time()
            value = yield from self.recompute(key)
            delta = self.clock.time() - start
            yield from self.fill(key, value, delta)
        return value

    def fill(self, key: Any, value: Any, delta: float) -> Gen:
        ttl = self.fill_ttl()
        pipe = self.cache.pipeline(transaction=True)
        pipe.hset(key, mapping={"v": value, "d": float(delta), "e": self.clock.time() + ttl})
        pipe.pexpire(key, _ms(ttl))
        yield from self.cache.execute(pipe)
        self.meter.filled(key)

    def invalidate(self, key: Any) -> Gen:
        return (yield from self.cache.delete(key))


class StaleWhileRevalidate(Protection):
    """Stale-while-revalidate: fresh until the soft TTL (``ttl``), then served stale while one background
    refresh recomputes (one per key across processes: a lock in the cache), until the hard TTL
    (``ttl + stale``); a hard miss recomputes in the request, once per key per process."""

    name = "swr"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = Script(cast(Any, self.cache), RELEASE)
        self.refreshing: set[Any] = set()
        self.refreshes = 0

    def lookup(self, key: Any) -> Gen:
        value, soft = yield from self.cache.hmget(key, ["v", "s"])
        if value is None:
            return (yield from self.single_flight(key, self.load_and_fill))
        if self.clock.time() >= float(soft) and key not in self.refreshing:
            self.refreshing.add(key)
            self.host.spawn(self._revalidate(key))
        return value

    def _revalidate(self, key: Any) -> Gen:
        lock_key = f"revalidate:{key}"
        token = self.token()
        try:
            if (yield from self.cache.set(lock_key, token, nx=True, px=_ms(self.config.lock_ttl))):
                self.refreshes += 1
                try:
                    yield from self.load_and_fill(key)
                finally:
                    yield from self._release(keys=[lock_key], args=[token])
        except RemoteError:
            pass  # a failed refresh leaves the stale copy until its hard TTL
        finally:
            self.refreshing.discard(key)

    def fill(self, key: Any, value: Any, delta: float) -> Gen:
        ttl = self.fill_ttl()
        pipe = self.cache.pipeline(transaction=True)
        pipe.hset(key, mapping={"v": value, "s": self.clock.time() + ttl})
        pipe.pexpire(key, _ms(ttl + self.config.stale))
        yield from self.cache.execute(pipe)
        self.meter.filled(key)


class Lease(Protection):
    """Facebook-style leases, as Redis scripts (:data:`LEASE_GET`, :data:`LEASE_SET`, :data:`LEASE_DELETE`).

    A miss gets a lease token when none was issued for the key in the last
    ``lease_ttl`` seconds (the lease key, which holds the token, expires
    then); the holder recomputes and sets the value only with its token,
    which uses the token up.  A miss within ``lease_ttl`` of the last token
    is a hot miss: the request sleeps ``poll`` seconds and asks again, or
    takes the stale copy (``lease_stale``) that every set leaves beside the
    value for ``ttl + stale`` seconds.  So with ``ttl < lease_ttl`` a miss
    may wait until the last token's ``lease_ttl`` is over, and a holder that
    crashed blocks the key for that long.  A delete (a write) invalidates
    the token, so a recompute that read the old value cannot set it
    afterwards.
    """

    name = "lease"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        c = cast(Any, self.cache)
        self._get = Script(c, LEASE_GET)
        self._set = Script(c, LEASE_SET)
        self._delete = Script(c, LEASE_DELETE)
        self.refused_sets = 0

    @staticmethod
    def keys(key: Any) -> tuple[str, str]:
        """The lease key and the stale copy of ``key``."""
        return f"lease:{key}", f"stale:{key}"

    def lookup(self, key: Any) -> Gen:
        lease, stale_key = self.keys(key)
        cfg = self.config
        while True:
            value, token, stale = yield from self._get(keys=[key, lease, stale_key, "lease:seq"],
                                                        args=[_ms(cfg.lease_ttl)])
            if value is not None:
                return value
            if token:
                value = yield from self.recompute(key)
                yield from self.lease_set(key, token, value)
                return value
            if stale is not None and cfg.lease_stale:
                return stale
            yield self.time.sleep(cfg.poll)

    def lease_set(self, key: Any, token: int, value: Any) -> Gen:
        """Set ``value`` with ``token``; whether the cache took it (False: the token was invalidated or expired)."""
        lease, stale_key = self.keys(key)
        ttl = self.fill_ttl()
        ok = yield from self._set(keys=[key, lease, stale_key], args=[token, value, _ms(ttl),
                                                                      _ms(ttl + self.config.stale)])
        if ok:
            self.meter.filled(key)
        else:
            self.refused_sets += 1
        return bool(ok)

    def fill(self, key: Any, value: Any, delta: float) -> Gen:
        lease, stale_key = self.keys(key)
        ttl = self.fill_ttl()
        pipe = self.cache.pipeline(transaction=True)
        pipe.set(key, value, px=_ms(ttl))
        pipe.set(stale_key, value, px=_ms(ttl + self.config.stale))
        yield from self.cache.execute(pipe)
        self.meter.filled(key)

    def invalidate(self, key: Any) -> Gen:
        lease, _ = self.keys(key)
        return (yield from self._delete(keys=[key, lease]))


#: protection name -> class
PROTECTIONS: dict[str, type[Protection]] = {
    cls.name: cls for cls in (NoProtection, SeedLock, SingleFlight, XFetch, StaleWhileRevalidate, TTLJitter, Lease)
}


def make_protection(name: str, cache: MeteredCache, db: DatabaseClient, meter: StampedeMeter,
                    config: StampedeConfig, clock: HostClock | None = None,
                    rng: np.random.Generator | None = None) -> Protection:
    """Build protection ``name`` (one of :data:`PROTECTIONS`; an unknown name raises with the valid ones)."""
    cls = PROTECTIONS.get(name)
    if cls is None:
        raise ValueError(f"protection must be one of {', '.join(PROTECTIONS)}, got {name!r}")
    return cls(cache, db, meter, config, clock, rng)


# ============================================================== theory
def expected_recomputes_none(rate: float, window: float) -> float:
    """Mean recomputes per expiry without protection: the first miss, plus the Poisson arrivals (rate ``rate``
    per key) whose lookup comes before its fill lands ``window`` seconds later: ``1 + rate * window``."""
    return 1.0 + rate * window


def expected_recomputes_single_flight(rate: float, window: float, processes: int) -> float:
    """Mean recomputes per expiry with a single flight in each of ``processes`` processes, requests spread at
    random (each process sees Poisson ``rate / processes``): the first, plus each other process that gets a
    request within ``window``: ``1 + (P - 1) * (1 - exp(-rate * window / P))``."""
    p = int(processes)
    return 1.0 + (p - 1) * (1.0 - math.exp(-rate * window / p))


def expected_recomputes_xfetch(rate: float, delta: float, beta: float, window: float | None = None,
                               lead: float = 0.0, ttl: float = math.inf, points: int = 4001) -> float:
    """Exact mean recomputes per expiry of XFetch with Poisson lookups and a constant recompute time.

    Let y be a lookup's time before the value's expiry (at the cache).  A
    lookup recomputes with probability ``min(1, exp(-(y - lead) / (beta * delta)))``
    (``lead``: how long after the lookup the app compares; ``delta``: the stored recompute time), so lookups
    that recompute form a Poisson process of intensity ``h(y) = rate * min(1, ...)``, starting from the fill
    at ``y = ttl``.  The first one, at ``y0``, has ``Lambda(y0) ~ Exp(1)`` where ``Lambda(y)`` is the integral of
    ``h`` from ``y`` to ``ttl``; every lookup in the ``window`` seconds until its fill lands recomputes too, on
    average ``Lambda(y0 - window) - Lambda(y0)``.  So the mean is
    ``1 + E[Lambda(Lambda^-1(E) - window) - E]`` over ``E ~ Exp(1)``, integrated here numerically.  When
    ``rate * beta * delta >> 1`` the first recompute comes long before the expiry and the mean is
    ``exp(window / (beta * delta))``: ``e**(1/beta)`` for ``window = delta``.

    Args:
        rate: lookups per second of the key.
        delta: the recompute time XFetch stores (seconds).
        beta: XFetch's beta.
        window: seconds from the first recomputing lookup to its fill landing (default ``delta``).
        lead: seconds from a lookup at the cache to the app's comparison (its reply's way back).
        ttl: the value's time to expiry at its fill.
        points: quadrature points over E.
    """
    w = delta if window is None else float(window)
    b = beta * delta
    c = float(lead)
    tail = math.exp(-(ttl - c) / b) if math.isfinite(ttl) else 0.0
    top = rate * b * (1.0 - tail) if ttl > c else 0.0  # Lambda(c): hazard accumulated down to y = c

    def lam(y: np.ndarray) -> np.ndarray:
        above = rate * b * (np.exp(-(np.minimum(y, ttl) - c) / b) - tail)
        return np.where(y >= c, above, top + rate * (c - y))

    def lam_inv(u: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            above = c - b * np.log(u / (rate * b) + tail)
        return np.where(u <= top, above, c - (u - top) / rate)

    # E ~ Exp(1): integrate over its quantiles (midpoint rule in probability)
    q = (np.arange(points) + 0.5) / points
    u = -np.log1p(-q)
    extra = lam(lam_inv(u) - w) - u
    return float(1.0 + extra.mean())


# ============================================================== figures
def _series(ts: Any, component: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    d = ts[(ts.component == component) & (ts.metric == metric)]
    return d.time.to_numpy(dtype=float), d.value.to_numpy(dtype=float)


def timeline_figure(result: Any, path: str | Path | None = None, title: str = "") -> Any:
    """DB load, cache hit ratio and latency p99 per window, with each window where an expiry opened marked.

    Args:
        result: a :class:`~simcache.sim.report.SimResult` of the ``stampede`` model (its time series).
        path: where to save it (``path.png`` and ``path.svg``); None: only return the figure.
        title: the figure's title (default: the protection, when the summary names it).
    """
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, save_figure, style

    ts = result.timeseries
    with style():
        fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    t, v = _series(ts, "db", "reads_rate")
    axes[0].plot(t, v, color=PALETTE[0])
    axes[0].set_ylabel("DB queries/s")
    t, v = _series(ts, "redis", "hit_ratio")
    axes[1].plot(t, v, color=PALETTE[2])
    axes[1].set_ylabel("cache hit ratio")
    axes[1].set_ylim(0, 1.05)
    t, v = _series(ts, "latency:all", "p99_ms")
    axes[2].plot(t, v, color=PALETTE[3])
    axes[2].set_ylabel("latency p99 (ms)")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("simulated time (s)")
    te, _ = _series(ts, "stampede", "expiries")
    for ax in axes:
        for x in te:
            ax.axvline(x, color="#999999", linestyle=":", linewidth=0.8)
    name = title or str(result.summary.get("protection", ""))
    axes[0].set_title(f"{name}: DB load, hit ratio and p99 per window (dotted: expiries)" if name else
                      "DB load, hit ratio and p99 per window (dotted: expiries)")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def comparison_figure(summaries: Mapping[str, Mapping[str, Any]], path: str | Path | None = None) -> Any:
    """Bars across protections: recomputes per expiry (with 95 % intervals), DB peak, the worst window's latency
    p99, and the cache load of waiting.

    Args:
        summaries: protection name -> summary of a ``stampede`` run on the same workload.
        path: where to save it (``path.png`` and ``path.svg``); None: only return the figure.
    """
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, save_figure, style

    names = list(summaries)
    x = np.arange(len(names))
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    per = [summaries[n]["recomputes_per_expiry"] for n in names]
    panels = [
        ("recomputes per expiry", [p["mean"] for p in per], [p.get("ci95", 0.0) for p in per], True),
        ("DB peak (queries/s)", [summaries[n]["db_peak_rps"] for n in names], None, True),
        ("worst window's latency p99 (ms)", [summaries[n]["latency_p99_peak_ms"] for n in names], None, True),
        ("waiting cache commands/s", [summaries[n]["waiting_cache_rps"] for n in names], None, False),
    ]
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    for ax, (label, vals, err, logy) in zip(axes.flat, panels, strict=True):
        e = None if err is None else [0.0 if not math.isfinite(v) else v for v in err]
        ax.bar(x, vals, color=colors, yerr=e, capsize=3)
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_title(label)
        if logy and all(v > 0 for v in vals if math.isfinite(v)):
            ax.set_yscale("log")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
