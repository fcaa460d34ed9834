"""Load generators: open loop (Poisson, MMPP, diurnal) and closed loop (N users with think time).

Each request attempt is one SimPy process: it draws nothing itself (the
client draws keys, operations and sizes from their own streams), crosses to
the app with ``yield from app.serve(...)``, and records its outcome with the
recorder when the answer is back:

* **ok** — with its latency from the first attempt's invocation; a read's
  value is judged by the oracle (fresh, stale, concurrent, dirty) against
  the read's invocation time;
* **timeout** — no answer ``timeout`` seconds after the attempt was sent.  The
  client stops waiting, but the request goes on: its commands still run (a
  late write still commits, and the oracle counts it as a late commit);
* **error** — a connection refused/reset, or an error the app returned.

Timeouts and errors are retried ``retries`` times after an exponential
backoff with jitter (``backoff * 2**attempt``, times a uniform 0.5–1.5 draw
from the client's ``NAME:retry`` stream).  Streams: ``NAME:arrivals``,
``NAME:keys``, ``NAME:ops``, ``NAME:sizes``, ``NAME:think``, ``NAME:retry`` — so
turning retries on does not change which keys are requested.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import simpy

from simcache.errors import UsageError
from simcache.sim.app import App
from simcache.sim.dists import Dist, uniform_sampler
from simcache.sim.network import MessageLost
from simcache.sim.oracle import Value
from simcache.sim.rpc import DeadlineQueue, RemoteError
from simcache.sim.world import World
from simcache.workloads import ZipfSampler

ArrivalKind = Literal["poisson", "mmpp", "diurnal"]


@dataclass(frozen=True)
class Workload:
    """What requests look like.

    Args:
        n_objects: distinct keys (ranked by popularity; key ``i`` is the ``i``-th most popular).
        alpha: Zipf exponent of key popularity (0: uniform).
        write_fraction: share of requests that are writes.
        size: value size distribution in bytes.
    """

    n_objects: int = 100_000
    alpha: float = 0.9
    write_fraction: float = 0.05
    size: Dist = field(default_factory=lambda: Dist("constant", 100.0))

    def __post_init__(self) -> None:
        if int(self.n_objects) != self.n_objects or self.n_objects < 1:
            raise UsageError(f"workload: n_objects must be an integer >= 1, got {self.n_objects!r}")
        if not self.alpha >= 0:
            raise UsageError(f"workload: alpha must be >= 0, got {self.alpha!r}")
        if not 0.0 <= self.write_fraction <= 1.0:
            raise UsageError(f"workload: write_fraction must be in [0, 1], got {self.write_fraction!r}")


class _Draws:
    """Batched key, operation and size draws, each from its own stream."""

    def __init__(self, world: World, name: str, wl: Workload, batch: int = 4096) -> None:
        self.wl = wl
        self.batch = batch
        self.keys = ZipfSampler(wl.alpha, wl.n_objects, world.rng(f"{name}:keys"))
        self._ops = world.rng(f"{name}:ops")
        self._size = wl.size.sampler(world.rng(f"{name}:sizes"))
        self.kbuf: list[int] = []
        self.wbuf: list[bool] = []

    def next(self) -> tuple[int, str, int]:
        """The next request's (key, operation, value size)."""
        if not self.kbuf:
            self.kbuf = np.asarray(self.keys.sample(self.batch))[::-1].tolist()
        if not self.wbuf:
            self.wbuf = (self._ops.random(self.batch) < self.wl.write_fraction)[::-1].tolist()
        return self.kbuf.pop(), "write" if self.wbuf.pop() else "read", max(0, int(self._size()))


class Attempt:
    """One attempt of one request."""

    __slots__ = ("key", "op", "value", "t0", "sent", "attempt", "settled", "user", "done")

    def __init__(self, key: Any, op: str, value: Any, t0: float, sent: float, attempt: int, user: int) -> None:
        self.key = key
        self.op = op
        self.value = value
        self.t0 = t0
        self.sent = sent
        self.attempt = attempt
        self.settled = False
        self.user = user
        self.done: simpy.Event | None = None


def _pending(a: Attempt) -> bool:
    return not a.settled


class Client:
    """What open- and closed-loop clients share: attempts, deadlines, retries, recording.

    Args:
        world: the simulation world.
        name: client name (random streams, metrics).
        node: the client's network node.
        app: the app (or a list of apps, chosen round robin) serving requests.
        workload: the key/op/size mix.
        timeout: seconds an attempt waits for its answer.
        retries: extra attempts after a timeout or an error.
        backoff: base of the exponential backoff, seconds.
    """

    def __init__(self, world: World, name: str, node: str, app: App | list[App], workload: Workload,
                 timeout: float = 1.0, retries: int = 0, backoff: float = 0.01) -> None:
        if not timeout > 0:
            raise UsageError(f"{name}: timeout must be > 0 seconds, got {timeout!r}")
        if int(retries) != retries or retries < 0:
            raise UsageError(f"{name}: retries must be an integer >= 0, got {retries!r}")
        if not backoff >= 0:
            raise UsageError(f"{name}: backoff must be >= 0 seconds, got {backoff!r}")
        self.world = world
        self.env = world.env
        self.rec = world.recorder
        self.name = name
        self.node = node
        world.network.add_node(node, "client")
        self.apps = list(app) if isinstance(app, list | tuple) else [app]
        if not self.apps:
            raise UsageError(f"{name}: needs at least one app")
        self._next_app = 0
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.draws = _Draws(world, name, workload)
        self._jitter = uniform_sampler(world.rng(f"{name}:retry"))
        self._deadlines = DeadlineQueue(self.env, self.timeout, _pending, self._expired)
        self.issued = 0
        self.finished = 0
        self.late = 0
        self.stop_at = math.inf

    # ------------------------------------------------------------ issuing
    def issue(self, user: int = -1) -> Attempt:
        """Draw a request and start its first attempt now."""
        key, op, size = self.draws.next()
        value = Value(self.world.new_write_id(), size) if op == "write" else None
        now = self.env.now
        self.issued += 1
        a = Attempt(key, op, value, now, now, 0, user)
        self.env.process(self._attempt(a))
        return a

    def _app(self) -> App:
        apps = self.apps
        if len(apps) == 1:
            return apps[0]
        self._next_app = (self._next_app + 1) % len(apps)
        return apps[self._next_app]

    def _attempt(self, a: Attempt) -> Generator[simpy.Event, Any, None]:
        self._deadlines.arm(a)
        try:
            answer, served = yield from self._app().serve(self.node, a.op, a.key, a.value)
        except MessageLost:
            return
        except RemoteError as err:
            if not a.settled:
                self._failed(a, type(err).__name__)
            return
        if a.settled:
            self.late += 1  # the answer came after the deadline; the client had stopped waiting
            return
        a.settled = True
        now = self.env.now
        self.rec.request(now, now - a.t0, "ok", a.op)
        if a.op == "read":
            self._judge(a, answer, served, now)
        self._finish(a)

    def _judge(self, a: Attempt, answer: Any, served: str, now: float) -> None:
        if not isinstance(answer, Value):
            self.rec.count("client", "empty_reads", now)
            return
        v = self.world.oracle.judge(a.key, answer.wid, a.t0, now)
        self.rec.read(now, served or "unknown", v.kind, v.age)

    def _expired(self, a: Attempt) -> None:
        a.settled = True
        if a.op == "write":
            self.world.oracle.abandoned(a.value.wid)
        self._failed(a, "timeout")

    def _failed(self, a: Attempt, why: str) -> None:
        a.settled = True
        if a.attempt < self.retries:
            self.env.process(self._retry(a))
            return
        now = self.env.now
        outcome = "timeout" if why == "timeout" else "error"
        self.rec.request(now, now - a.t0, outcome, a.op, "" if why == "timeout" else why)
        self._finish(a)

    def _retry(self, a: Attempt) -> Generator[simpy.Event, Any, None]:
        wait = self.backoff * 2**a.attempt * (0.5 + self._jitter())
        yield self.env.timeout(wait)
        b = Attempt(a.key, a.op, a.value, a.t0, self.env.now, a.attempt + 1, a.user)
        b.done = a.done
        yield from self._attempt(b)

    def _finish(self, a: Attempt) -> None:
        self.finished += 1
        if a.done is not None:
            a.done.succeed()


class OpenLoopClient(Client):
    """Requests arrive whatever the system's state.

    Args:
        rate: mean requests per second (poisson), the base rate (diurnal); unused for mmpp.
        arrivals: "poisson", "mmpp" (two-state Markov-modulated) or "diurnal" (sinusoidal rate, by thinning).
        mmpp: (rate_low, rate_high, mean seconds in low, mean seconds in high).
        diurnal: (amplitude in [0, 1), period in seconds).
        (other arguments: see :class:`Client`)
    """

    def __init__(self, world: World, name: str, node: str, app: App | list[App], workload: Workload,
                 rate: float, arrivals: ArrivalKind = "poisson",
                 mmpp: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
                 diurnal: tuple[float, float] = (0.5, 86400.0), **kw: Any) -> None:
        super().__init__(world, name, node, app, workload, **kw)
        if arrivals not in ("poisson", "mmpp", "diurnal"):
            raise UsageError(f"{name}: arrivals must be poisson, mmpp or diurnal, got {arrivals!r}")
        if arrivals != "mmpp" and not (rate > 0 and math.isfinite(rate)):
            raise UsageError(f"{name}: rate must be a finite number > 0 requests/s, got {rate!r}")
        self.rate = float(rate)
        self.arrivals = arrivals
        arng = world.rng(f"{name}:arrivals")
        self._exp1 = Dist("exponential", 1.0).sampler(arng)
        self._u = uniform_sampler(arng)
        if arrivals == "mmpp":
            lo, hi, tlo, thi = mmpp
            if lo < 0 or hi <= 0 or tlo <= 0 or thi <= 0:
                raise UsageError(f"{name}: mmpp needs rate_low >= 0, rate_high > 0 and state times > 0, got {mmpp}")
            self._mm = (lo, hi, tlo, thi)
            self._state = 0
            self._state_end = self._exp1() * tlo
        if arrivals == "diurnal":
            amp, period = diurnal
            if not 0 <= amp < 1 or period <= 0:
                raise UsageError(f"{name}: diurnal needs 0 <= amplitude < 1 and period > 0, got {diurnal}")
            self._amp, self._period = amp, period
        self.env.process(self._arrivals())

    def _gap(self) -> float:
        if self.arrivals == "poisson":
            return self._exp1() / self.rate
        now = self.env.now
        if self.arrivals == "mmpp":
            # memoryless in each state: redraw from the state boundary
            lo, hi, tlo, thi = self._mm
            t = now
            while True:
                r = hi if self._state else lo
                gap = self._exp1() / r if r > 0 else math.inf
                if t + gap <= self._state_end:
                    return t + gap - now
                t = self._state_end
                self._state ^= 1
                self._state_end = t + self._exp1() * (thi if self._state else tlo)
        # diurnal: thinning (Lewis-Shedler) against the peak rate
        peak = self.rate * (1 + self._amp)
        t = now
        while True:
            t += self._exp1() / peak
            r = self.rate * (1 + self._amp * math.sin(2 * math.pi * t / self._period))
            if self._u() * peak <= r:
                return t - now

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            gap = self._gap()
            if env.now + gap >= self.stop_at or gap == math.inf:
                return
            yield env.timeout(gap)
            self.issue()


class ClosedLoopClient(Client):
    """``users`` users, each: think, send one request, wait for its outcome, repeat.

    Args:
        users: concurrent users.
        think: think-time distribution between a user's requests.
        (other arguments: see :class:`Client`)
    """

    def __init__(self, world: World, name: str, node: str, app: App | list[App], workload: Workload,
                 users: int, think: Dist | str | float = "exp:0.05", **kw: Any) -> None:
        super().__init__(world, name, node, app, workload, **kw)
        if int(users) != users or users < 1:
            raise UsageError(f"{name}: users must be an integer >= 1, got {users!r}")
        self.users = int(users)
        self.think = Dist.parse(think)
        self._think = self.think.sampler(world.rng(f"{name}:think"))
        for u in range(self.users):
            self.env.process(self._user(u))

    def _user(self, user: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            t = self._think()
            if env.now + t >= self.stop_at:
                return
            yield env.timeout(t)
            a = self.issue(user)
            a.done = env.event()  # set before the attempt's process first runs
            yield a.done
