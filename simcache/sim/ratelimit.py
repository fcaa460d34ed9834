"""Rate limiters: the seed's ``RateLimiter`` line for line, its flaws happening, and the usual limiters beside it.

The seed (``shared/seed/caching-and-data-stores.md``, "Rate Limiting") keeps
a sorted-set log of request times per key: one pipeline (redis-py's default,
a MULTI/EXEC transaction) removes entries older than the window, adds
``{str(now): now}``, counts the set and refreshes its expiry; the request is
allowed when the count is at most ``max_requests``.  :class:`RateLimiter` is
that method, statement by statement (``time.time()`` is the host's
``clock.time()``, the pipeline's ``execute`` a ``yield from``).

Its flaws, each shown happening (``tests/sim/test_ratelimit.py`` counts them
under hand-built schedules):

* **Rejected requests are logged too.**  The ZADD runs whether or not the
  request is allowed, so a client that keeps offering more than the limit
  keeps the log above it: offering ``2L`` evenly spaced requests per window,
  it gets the first ``L`` through and then nothing, ever — ``L`` accepted out
  of ``2L x windows`` offered.
* **Same timestamp, same member.**  Two requests that read the same
  ``time.time()`` (the same instant, or a coarse clock) add one member
  between them; the log undercounts and lets more through than the limit.
* **Each client's own clock.**  The MULTI/EXEC makes the four commands atomic
  on the server, but ``now`` comes from each client's clock: a client whose
  clock is ahead trims other clients' entries that are still inside the true
  window, and the limit is exceeded.  (:class:`SlidingLogRacy` shows the
  non-atomic variant many write instead — count, then add in a second round
  trip — letting two clients that both saw ``L - 1`` through together.)

Beside it, each with ``is_allowed(key)`` and the same constructor:

* :class:`FixedWindow` — INCR a per-window counter and EXPIRE it in one
  MULTI/EXEC; lets up to ``2L`` through across a window boundary;
* :class:`FixedWindowLeaky` — INCR, then EXPIRE as a separate command when
  the count is 1: a client that dies between the two leaves a counter that
  never expires, and the key is blocked for good once it reaches ``L``;
* :class:`SlidingWindowCounter` — the current window's count plus the
  previous one's weighted by its overlap with the sliding window (a script);
* :class:`SlidingLog` — the seed's log done right: a script that trims,
  counts and adds only an allowed request, under a unique member;
* :class:`TokenBucket` — GCRA (a token bucket kept as one theoretical arrival
  time), a script.

The scripts are Lua texts with registered Python equivalents (the same SHA a
real server computes), so they run unchanged against a real ``redis-server``.

Measurement (pure functions on arrays of true times): :func:`max_in_any_window`
(the most requests let through in any window of length W), :func:`false_rejects`
(rejections when fewer than L had been let through in the trailing window),
and :func:`exact_decisions` (what an exact sliding log would have decided).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simcache.sim.redis import Redis, register_lua
from simcache.sim.simtime import HostClock

if TYPE_CHECKING:
    from simcache.sim.report import SimResult

Gen = Generator[simpy.Event, Any, Any]


class CoarseClock(HostClock):
    """A host clock that reads in steps of ``resolution`` seconds (a 64 Hz timer reads in 15.6 ms steps).

    Args:
        env: the SimPy environment.
        resolution: the step, seconds (0: exact).
        (others as :class:`~simcache.sim.simtime.HostClock`)
    """

    def __init__(self, env: simpy.Environment, resolution: float = 0.0, offset: float = 0.0, drift: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(env, offset, drift, **kwargs)
        if not resolution >= 0:
            raise ValueError(f"clock resolution must be >= 0 seconds, got {resolution!r}")
        self.resolution = float(resolution)

    def time(self) -> float:
        t = super().time()
        res = self.resolution
        return math.floor(t / res) * res if res > 0 else t


class WorkerDied(Exception):
    """The request's worker died between two of a limiter's Redis commands (what ``die`` simulates)."""


# ------------------------------------------------------------------ the seed
class RateLimiter:
    """The seed's ``RateLimiter``, statement by statement (``caching-and-data-stores.md``, "Rate Limiting").

    Args:
        redis_client: the redis-py-like client.
        max_requests: requests allowed per window.
        window: the window, whole seconds (EXPIRE takes whole seconds).
        clock: the ``time`` module of the host the code runs on.
    """

    def __init__(self, redis_client: Redis, max_requests: int = 100, window: int = 3600, *,
                 clock: HostClock) -> None:
        self.redis = redis_client
        self.max_requests = max_requests
        self.window = window
        self.clock = clock

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        now = self.clock.time()
        pipeline = self.redis.pipeline()
        pipeline.zremrangebyscore(key, 0, now - self.window)
        pipeline.zadd(key, {str(now): now})
        pipeline.zcount(key, '-inf', '+inf')
        pipeline.expire(key, self.window + 1)
        results = yield from pipeline.execute()

        return results[2] <= self.max_requests


class Limiter:
    """What the other limiters share: the seed's constructor, plus a name for unique log members.

    Args:
        redis_client: the redis-py-like client.
        max_requests: requests allowed per window.
        window: the window, seconds (whole seconds for the limiters that use EXPIRE).
        clock: the host's clock.
        name: distinguishes this client's log members from other clients'.
    """

    def __init__(self, redis_client: Redis, max_requests: int = 100, window: float = 3600, *,
                 clock: HostClock, name: str = "client") -> None:
        self.redis = redis_client
        self.max_requests = max_requests
        self.window = window
        self.clock = clock
        self.name = name
        self._n = 0

    def member(self, now: float) -> str:
        """A log member unique to this request (its time, this client, a sequence number)."""
        self._n += 1
        return f"{now!r}:{self.name}:{self._n}"


# --------------------------------------------------------------- fixed window
class FixedWindow(Limiter):
    """A counter per fixed window (``key:floor(now / W)``): INCR and EXPIRE in one MULTI/EXEC."""

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        now = self.clock.time()
        counter = f"{key}:{int(now // self.window)}"
        pipe = self.redis.pipeline()
        pipe.incr(counter)
        pipe.expire(counter, int(self.window) + 1)
        count, _ = yield from pipe.execute()
        return count <= self.max_requests


class FixedWindowLeaky(Limiter):
    """One counter whose window starts at its first request: INCR, then EXPIRE only when the count is 1.

    The two commands are separate round trips: a worker that dies between them (``die()`` returning True
    simulates it, as does a crash of the host) leaves a counter without a TTL, which never resets.

    Args:
        die: called after the INCR; True makes the request's worker die there (raises :class:`WorkerDied`).
        (others as :class:`Limiter`)
    """

    def __init__(self, redis_client: Redis, max_requests: int = 100, window: float = 3600, *,
                 clock: HostClock, name: str = "client", die: Callable[[], bool] | None = None) -> None:
        super().__init__(redis_client, max_requests, window, clock=clock, name=name)
        self.die = die

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        count = yield from self.redis.incr(key)
        if self.die is not None and self.die():
            raise WorkerDied(f"{self.name} died after INCR {key}")
        if count == 1:
            yield from self.redis.expire(key, int(self.window))
        return count <= self.max_requests


# ------------------------------------------------------- sliding window counter
SLIDING_COUNTER_LUA = """local current = tonumber(redis.call('get', KEYS[1]) or '0')
local previous = tonumber(redis.call('get', KEYS[2]) or '0')
if previous * tonumber(ARGV[1]) + current < tonumber(ARGV[2]) then
    redis.call('incr', KEYS[1])
    redis.call('pexpire', KEYS[1], ARGV[3])
    return 1
end
return 0"""


@register_lua(SLIDING_COUNTER_LUA)
def sliding_counter_script(redis: Any, keys: list[bytes], args: list[bytes]) -> int:
    """Python equivalent of :data:`SLIDING_COUNTER_LUA`."""
    current = float(redis.call("get", keys[0]) or b"0")
    previous = float(redis.call("get", keys[1]) or b"0")
    if previous * float(args[0]) + current < float(args[1]):
        redis.call("incr", keys[0])
        redis.call("pexpire", keys[0], args[2])
        return 1
    return 0


class SlidingWindowCounter(Limiter):
    """Two fixed-window counters, the previous one weighted by the share of it still inside the sliding window.

    Allowed when ``previous * (1 - elapsed / W) + current < L``; the check and the INCR run in one script.
    An approximation of a sliding window that assumes the previous window's requests were evenly spread.
    """

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        now = self.clock.time()
        w = self.window
        wid = int(now // w)
        weight = (w - (now - wid * w)) / w
        ok = yield from self.redis.eval(SLIDING_COUNTER_LUA, 2, f"{key}:{wid}", f"{key}:{wid - 1}", repr(weight),
                                        self.max_requests, max(1, math.ceil(2 * w * 1000)))
        return ok == 1


# ------------------------------------------------------------------ sliding log
SLIDING_LOG_LUA = """redis.call('zremrangebyscore', KEYS[1], 0, ARGV[2])
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('zadd', KEYS[1], ARGV[1], ARGV[4])
    redis.call('pexpire', KEYS[1], ARGV[5])
    return 1
end
return 0"""


@register_lua(SLIDING_LOG_LUA)
def sliding_log_script(redis: Any, keys: list[bytes], args: list[bytes]) -> int:
    """Python equivalent of :data:`SLIDING_LOG_LUA`."""
    redis.call("zremrangebyscore", keys[0], 0, args[1])
    if redis.call("zcard", keys[0]) < float(args[2]):
        redis.call("zadd", keys[0], args[0], args[3])
        redis.call("pexpire", keys[0], args[4])
        return 1
    return 0


class SlidingLog(Limiter):
    """The seed's log, fixed: trim, count, and add only an allowed request (under a unique member), in one script."""

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        now = self.clock.time()
        ok = yield from self.redis.eval(SLIDING_LOG_LUA, 1, key, repr(now), repr(now - self.window),
                                        self.max_requests, self.member(now), max(1, math.ceil(self.window * 1000)))
        return ok == 1


class SlidingLogRacy(Limiter):
    """A sliding log that stores only allowed requests, but checks and adds in two round trips (not atomic).

    Two clients that both count ``L - 1`` both add: more than ``L`` get through.
    """

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        now = self.clock.time()
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(key, 0, now - self.window)
        pipe.zcard(key)
        _, count = yield from pipe.execute()
        if count >= self.max_requests:
            return False
        pipe = self.redis.pipeline()
        pipe.zadd(key, {self.member(now): now})
        pipe.pexpire(key, max(1, math.ceil(self.window * 1000)))
        yield from pipe.execute()
        return True


# ------------------------------------------------------------- token bucket
GCRA_LUA = """local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('get', KEYS[1]) or ARGV[1])
if tat < now then
    tat = now
end
if tat - now > tolerance then
    return 0
end
local new_tat = tat + interval
redis.call('set', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return 1"""


@register_lua(GCRA_LUA)
def gcra_script(redis: Any, keys: list[bytes], args: list[bytes]) -> int:
    """Python equivalent of :data:`GCRA_LUA`."""
    now = float(args[0])
    interval = float(args[1])
    tolerance = float(args[2])
    tat = float(redis.call("get", keys[0]) or args[0])
    if tat < now:
        tat = now
    if tat - now > tolerance:
        return 0
    new_tat = tat + interval
    redis.call("set", keys[0], b"%.17g" % new_tat, "PX", math.ceil((new_tat - now) * 1000))
    return 1


class TokenBucket(Limiter):
    """A token bucket as GCRA: one key holds the theoretical arrival time (TAT) of the next request.

    Tokens refill at ``L / W`` per second up to ``burst``; a request is allowed when ``TAT - now <=
    (burst - 1) * W / L`` and then pushes the TAT ``W / L`` later.  It bounds the long-run rate and the burst,
    not the count in every window: up to ``burst + L`` can pass in one window.

    Args:
        burst: requests it lets through at once (default: ``max_requests``).
        (others as :class:`Limiter`)
    """

    def __init__(self, redis_client: Redis, max_requests: int = 100, window: float = 3600, *,
                 clock: HostClock, name: str = "client", burst: int | None = None) -> None:
        super().__init__(redis_client, max_requests, window, clock=clock, name=name)
        self.burst = max_requests if burst is None else burst
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1 request, got {self.burst!r}")

    def is_allowed(self, key: str) -> Gen:
        """Generator: whether this request is allowed."""
        now = self.clock.time()
        interval = self.window / self.max_requests
        ok = yield from self.redis.eval(GCRA_LUA, 1, key, repr(now), repr(interval),
                                        repr((self.burst - 1) * interval))
        return ok == 1


#: model name -> limiter class
LIMITERS: dict[str, type[Any]] = {
    "seed": RateLimiter,
    "fixed-window": FixedWindow,
    "fixed-window-leaky": FixedWindowLeaky,
    "sliding-counter": SlidingWindowCounter,
    "sliding-log": SlidingLog,
    "sliding-log-racy": SlidingLogRacy,
    "token-bucket": TokenBucket,
}

#: limiters that send EXPIRE, which takes whole seconds
WHOLE_SECOND_WINDOWS = ("seed", "fixed-window", "fixed-window-leaky")


def make_limiter(kind: str, redis: Redis, limit: int, window: float, clock: HostClock, name: str = "client",
                 **options: Any) -> Any:
    """A limiter by model name (:data:`LIMITERS`); ``options`` go to limiters that take them (burst, die)."""
    cls = LIMITERS.get(kind)
    if cls is None:
        raise ValueError(f"limiter must be one of {', '.join(LIMITERS)}, got {kind!r}")
    if cls is RateLimiter:
        return RateLimiter(redis, limit, int(window), clock=clock)
    kw: dict[str, Any] = {}
    if cls is TokenBucket and options.get("burst"):
        kw["burst"] = int(options["burst"])
    if cls is FixedWindowLeaky and options.get("die") is not None:
        kw["die"] = options["die"]
    return cls(redis, limit, window, clock=clock, name=name, **kw)


# -------------------------------------------------------------- measurement
def max_in_any_window(times: np.ndarray | list[float], window: float) -> int:
    """The most of ``times`` inside any window ``[t, t + window)`` (exact: every window starts at one of them)."""
    t = np.sort(np.asarray(times, dtype=float))
    if t.size == 0:
        return 0
    ends = np.searchsorted(t, t + window, side="left")
    return int((ends - np.arange(t.size)).max())


def trailing_counts(accepted: np.ndarray | list[float], at: np.ndarray | list[float], window: float) -> np.ndarray:
    """For each time in ``at``: how many ``accepted`` times lie in ``(t - window, t]``."""
    a = np.sort(np.asarray(accepted, dtype=float))
    q = np.asarray(at, dtype=float)
    return np.searchsorted(a, q, side="right") - np.searchsorted(a, q - window, side="right")


def false_rejects(accepted: np.ndarray | list[float], rejected: np.ndarray | list[float], limit: int,
                  window: float) -> int:
    """Rejections made when fewer than ``limit`` requests had been let through in the trailing window."""
    if len(rejected) == 0:
        return 0
    return int((trailing_counts(accepted, rejected, window) < limit).sum())


def exact_decisions(times: np.ndarray | list[float], limit: int, window: float) -> np.ndarray:
    """What an exact sliding log decides for requests at ``times`` (in order): allowed when fewer than
    ``limit`` allowed ones lie in ``(t - window, t)``."""
    t = np.asarray(times, dtype=float)
    out = np.zeros(t.size, dtype=bool)
    kept: list[float] = []
    head = 0
    for i, x in enumerate(t.tolist()):
        while head < len(kept) and kept[head] <= x - window:
            head += 1
        if len(kept) - head < limit:
            kept.append(x)
            out[i] = True
    return out


# ------------------------------------------------------------------ figures
def rate_limit_figure(result: SimResult, out_dir: str | Path) -> list[Path]:
    """Write ``rate_limit_timeline.png``: accepted and rejected requests per window, with the limit; return the
    paths.  ``result`` is a ``rate-limit`` model run (its windows are the limiter's window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = result.timeseries
    s = result.summary
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4))
    acc = ts[(ts.component == "limiter") & (ts.metric == "accepted")].set_index("time").value
    rej = ts[(ts.component == "limiter") & (ts.metric == "rejected")].set_index("time").value
    times = sorted(set(acc.index) | set(rej.index))
    a = np.array([acc.get(t, 0.0) for t in times])
    r = np.array([rej.get(t, 0.0) for t in times])
    width = 0.8 * float(s.get("window", 1.0))
    ax.bar(times, a, width=width, color="tab:green", label="accepted", align="edge")
    ax.bar(times, r, width=width, bottom=a, color="tab:red", alpha=0.6, label="rejected", align="edge")
    limit = float(s.get("limit", 0)) * float(s.get("keys", 1))
    if limit:
        ax.axhline(limit, color="black", linestyle="--", label="limit x keys")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("requests per window")
    ax.set_title(f"{s.get('limiter', '?')}: accepted {s.get('accepted_fraction', 0):.0%} of offered, "
                 f"max {s.get('max_in_any_window', '?')} in any window (limit {s.get('limit', '?')})")
    ax.legend()
    fig.tight_layout()
    p = out / "rate_limit_timeline.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


def rate_limit_comparison_figure(summaries: Mapping[str, Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write ``rate_limit_comparison.png`` from ``{limiter: summary}`` of runs on the same load: accepted
    fraction (with an exact sliding log's), the most let through in any window over the limit, and the share of
    rejections that were false; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(summaries)
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    acc = [summaries[n].get("accepted_fraction", 0.0) for n in names]
    exact = [summaries[n].get("exact_accepted_fraction", 0.0) for n in names]
    axes[0].bar(x, acc, color="tab:green", label="accepted")
    axes[0].scatter(x, exact, color="black", marker="_", s=400, label="exact sliding log")
    axes[0].set_title("Accepted fraction of offered")
    axes[0].legend()
    axes[1].bar(x, [summaries[n].get("max_in_any_window_ratio", 0.0) for n in names], color="tab:orange")
    axes[1].axhline(1.0, color="black", linestyle="--")
    axes[1].set_title("Most in any window / limit")
    axes[2].bar(x, [summaries[n].get("false_reject_fraction", 0.0) for n in names], color="tab:red")
    axes[2].set_title("False rejects / rejects")
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, ha="right")
    fig.tight_layout()
    p = out / "rate_limit_comparison.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]
