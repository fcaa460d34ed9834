"""Clients: open loop (Poisson, MMPP, diurnal) and closed loop (N users with think time).

A client draws each request's key, operation and size from its workload in
batches, sends it to the app, and records the end-to-end latency and outcome
(ok, timeout, error) with the recorder.  Timeouts and errors are retried up to
``retries`` times with exponential backoff and jitter; the latency of a
request that succeeds on a retry counts from its first attempt.

An open-loop client generates its arrival process directly at the app and
back-dates each request's start by the client-to-app delay it drew.  For a
Poisson process with independent delays this is the same process (the
displacement theorem) and saves one event per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from heapq import heappush
from typing import Any, Literal

import numpy as np
from simpy.events import Timeout

from simcache.errors import UsageError
from simcache.sim.core import Request, arm_timeout
from simcache.sim.dists import Dist, Sampler, uniform_sampler
from simcache.sim.world import World
from simcache.workloads import ZipfSampler


@dataclass(frozen=True)
class Workload:
    """What requests look like.

    Args:
        n_objects: distinct keys (ranked by popularity).
        alpha: Zipf exponent of key popularity (0: uniform).
        write_fraction: share of requests that are writes.
        size: object size distribution (entries: 1).
    """

    n_objects: int = 100_000
    alpha: float = 0.9
    write_fraction: float = 0.05
    size: Dist = field(default_factory=lambda: Dist("constant", 1.0))

    def __post_init__(self) -> None:
        if int(self.n_objects) != self.n_objects or self.n_objects < 1:
            raise UsageError(f"workload: n_objects must be an integer >= 1, got {self.n_objects!r}")
        if self.alpha < 0:
            raise UsageError(f"workload: alpha must be >= 0, got {self.alpha}")
        if not 0.0 <= self.write_fraction <= 1.0:
            raise UsageError(f"workload: write_fraction must be in [0, 1], got {self.write_fraction}")


class _Draws:
    """Batched key/op/size draws for one client (popped from the end of pre-drawn lists)."""

    def __init__(self, wl: Workload, rng: np.random.Generator, batch: int = 4096) -> None:
        self.wl = wl
        self.rng = rng
        self.batch = batch
        self.keys = ZipfSampler(wl.alpha, wl.n_objects, rng, scramble=False)
        self._size = wl.size.sampler(rng) if wl.size.kind != "constant" else None
        self._const = int(wl.size.a) if wl.size.kind == "constant" else 1
        self.kbuf: list[int] = []
        self.obuf: list[str] = []

    def refill(self) -> None:
        """Draw the next batch of keys and operations."""
        keys = np.asarray(self.keys.sample(self.batch))[::-1].tolist()
        writes = (self.rng.random(self.batch) < self.wl.write_fraction)[::-1].tolist()
        self.kbuf = keys
        self.obuf = ["write" if w else "read" for w in writes]

    def next(self) -> tuple[int, str, int]:
        """The next request's (key, operation, size)."""
        if not self.kbuf:
            self.refill()
        size = self._const if self._size is None else max(1, int(self._size()))
        return self.kbuf.pop(), self.obuf.pop(), size


class Client:
    """Common client machinery: issuing, retries, recording.

    Args:
        world: the simulation world.
        name: component name (random stream, metrics).
        node: the client's network node.
        app: the app receiving requests (``app.handle(req)``, ``app.node``).
        workload: key/op/size mix.
        timeout: seconds before an attempt is abandoned.
        retries: extra attempts after a timeout or error.
        backoff: base of the exponential backoff (attempt i waits backoff * 2**i, jittered 50-150%).
    """

    def __init__(self, world: World, name: str, node: str, app: Any, workload: Workload, timeout: float = 1.0,
                 retries: int = 0, backoff: float = 0.01) -> None:
        if timeout <= 0:
            raise UsageError(f"{name}: timeout must be > 0 seconds, got {timeout}")
        if int(retries) != retries or retries < 0:
            raise UsageError(f"{name}: retries must be an integer >= 0, got {retries!r}")
        self.world = world
        self.env = world.env
        self.rec = world.recorder
        self.name = name
        self.node = node
        self.app = app
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        rng = world.rng(name)
        self.draws = _Draws(workload, rng)
        self._jitter = uniform_sampler(rng)
        self._rid = 0
        self.issued = 0
        self.finished = 0
        self.stop_at = math.inf
        net = world.network
        # the direct links to and from the app, for the hot path (None: routed, see Network.delay)
        self._to_app = net._links.get((node, app.node)) if net is not None else None
        self._from_app = self._to_app
        self._after = type(self).after is not Client.after

    def _send(self, t_issue: float, key: Any, op: str, size: int, rid: int, t0: float, attempt: int,
              user: int) -> Request | None:
        """The request reaches the app now, having left the client at ``t_issue``."""
        req = Request(rid, key, op, size, t0, t_issue + self.timeout, self)
        req.attempt = attempt
        req.user = user
        self.app.handle(req)
        return req

    def new_request_at_app(self, user: int = -1) -> None:
        """Draw a request and deliver it to the app now (its issue time is back-dated by the network delay)."""
        dr = self.draws
        if not dr.kbuf:
            dr.refill()
        key = dr.kbuf.pop()
        op = dr.obuf.pop()
        size = dr._const if dr._size is None else max(1, int(dr._size()))
        self._rid += 1
        self.issued += 1
        now = self.env._now
        lk = self._to_app
        if lk is not None and lk.plain and lk.up:
            buf = lk.buf
            d: float | None = buf.pop() if buf else lk.refill()
        else:
            d = self.world.network.delay(self.node, self.app.node)
        if d is None:
            req = Request(self._rid, key, op, size, now, now + self.timeout, self)
            req.user = user
            arm_timeout(self.world, req)
            return
        t0 = now - d
        req = Request(self._rid, key, op, size, t0, t0 + self.timeout, self)
        req.user = user
        self.app.handle(req)

    def reply(self, req: Request, t_app: float, outcome: str, detail: str) -> None:
        """The app finished ``req`` at ``t_app``; the answer travels back to the client."""
        if req.done:
            return
        if outcome == "ok":
            lk = self._from_app
            if lk is not None and lk.plain and lk.up:
                buf = lk.buf
                d: float | None = buf.pop() if buf else lk.refill()
            else:
                d = self.world.network.delay(self.app.node, self.node)
            if d is None:
                req.ev = None
                arm_timeout(self.world, req)
                return
            t_end = t_app + d
            if t_end > req.deadline:
                req.ev = None
                arm_timeout(self.world, req)
                return
            req.done = True
            self.finished += 1
            self.rec.request(t_end, t_end - req.t0, "ok", req.op)
            if self._after:
                self.after(req, t_end)
            return
        req.done = True
        t_end = t_app + (self.world.network.delay(self.app.node, self.node) or 0.0)
        if not self._retry(req, max(t_end, self.env._now)):
            self.finished += 1
            self.rec.request(t_end, t_end - req.t0, outcome, req.op, detail)
            self.after(req, t_end)

    def on_timeout(self, req: Request) -> None:
        now = self.env._now
        if not self._retry(req, now):
            self.finished += 1
            self.rec.request(now, now - req.t0, "timeout", req.op, "timeout")
            self.after(req, now)

    def _retry(self, req: Request, t: float) -> bool:
        if req.attempt >= self.retries or t >= self.stop_at:
            return False
        self.rec.count(self.name, "retries", t)
        wait = self.backoff * (2**req.attempt) * (0.5 + self._jitter()) + (t - self.env._now)
        ev = Timeout(self.env, wait, req)
        ev.callbacks.append(self._resend)
        return True

    def _resend(self, ev: Timeout) -> None:
        old: Request = ev._value
        now = self.env._now
        d = self.world.network.delay(self.node, self.app.node)
        if d is None:
            req = Request(old.rid, old.key, old.op, old.size, old.t0, now + self.timeout, self)
            req.attempt, req.user = old.attempt + 1, old.user
            arm_timeout(self.world, req)
            return
        ev2 = Timeout(self.env, d, (old, now))
        ev2.callbacks.append(self._resend_arrive)

    def _resend_arrive(self, ev: Timeout) -> None:
        old, t_issue = ev._value
        self._send(t_issue, old.key, old.op, old.size, old.rid, old.t0, old.attempt + 1, old.user)

    def after(self, req: Request, t_end: float) -> None:
        """Hook: a request finished for good at ``t_end`` (closed-loop users think, then go again)."""


ArrivalKind = Literal["poisson", "mmpp", "diurnal"]


class OpenLoopClient(Client):
    """Requests arrive whatever the system's state.

    Args:
        rate: mean requests per second (poisson), the base rate (diurnal), or ignored (mmpp: see ``mmpp``).
        arrivals: "poisson", "mmpp" (two-state Markov-modulated) or "diurnal" (sinusoidal rate).
        mmpp: (rate_low, rate_high, mean seconds in low, mean seconds in high).
        diurnal: (amplitude in [0, 1), period seconds).
        (other arguments: see :class:`Client`)
    """

    def __init__(self, world: World, name: str, node: str, app: Any, workload: Workload, rate: float,
                 arrivals: ArrivalKind = "poisson", mmpp: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
                 diurnal: tuple[float, float] = (0.5, 86400.0), **kw: Any) -> None:
        super().__init__(world, name, node, app, workload, **kw)
        if arrivals not in ("poisson", "mmpp", "diurnal"):
            raise UsageError(f"{name}: arrivals must be poisson, mmpp or diurnal, got {arrivals!r}")
        if arrivals != "mmpp" and rate <= 0:
            raise UsageError(f"{name}: rate must be > 0 requests/s, got {rate}")
        self.rate = rate
        self.arrivals = arrivals
        arng = self._arng = world.rng(f"{name}:arrivals")
        self._poisson = arrivals == "poisson"
        self._gaps: list[float] = []
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
        self._next_gap: Sampler = {"poisson": self._gap_poisson, "mmpp": self._gap_mmpp,
                                   "diurnal": self._gap_diurnal}[arrivals]
        env = self.env
        first = self._refill_gaps() if self._poisson else self._next_gap()
        heappush(env._queue, (env._now + first, 1, next(env._eid), self._arrive, None))

    def _gap_poisson(self) -> float:
        return self._exp1() / self.rate

    def _gap_mmpp(self) -> float:
        # memoryless in each state: redraw from the state boundary
        lo, hi, tlo, thi = self._mm
        t = self.env._now
        while True:
            r = hi if self._state else lo
            gap = self._exp1() / r if r > 0 else math.inf
            if t + gap <= self._state_end:
                return t + gap - self.env._now
            t = self._state_end
            self._state ^= 1
            self._state_end = t + self._exp1() * (thi if self._state else tlo)

    def _gap_diurnal(self) -> float:
        # thinning (Lewis-Shedler) against the peak rate
        peak = self.rate * (1 + self._amp)
        t = self.env._now
        while True:
            t += self._exp1() / peak
            r = self.rate * (1 + self._amp * math.sin(2 * math.pi * t / self._period))
            if self._u() * peak <= r:
                return t - self.env._now

    def _arrive(self, _arg: Any, _tok: Any) -> None:
        """Queue callback: the next request reaches the app; the one after is scheduled."""
        env = self.env
        now = env._now
        if now >= self.stop_at:
            return
        if self._poisson:
            buf = self._gaps
            gap = buf.pop() if buf else self._refill_gaps()
        else:
            gap = self._next_gap()
        heappush(env._queue, (now + gap, 1, next(env._eid), self._arrive, None))
        # Client.new_request_at_app, inlined (the same draws in the same order)
        dr = self.draws
        if not dr.kbuf:
            dr.refill()
        key = dr.kbuf.pop()
        op = dr.obuf.pop()
        size = dr._const if dr._size is None else max(1, int(dr._size()))
        self._rid += 1
        self.issued += 1
        lk = self._to_app
        if lk is not None and lk.plain and lk.up:
            buf = lk.buf
            t0 = now - (buf.pop() if buf else lk.refill())
        else:
            d = self.world.network.delay(self.node, self.app.node)
            if d is None:
                req = Request(self._rid, key, op, size, now, now + self.timeout, self)
                arm_timeout(self.world, req)
                return
            t0 = now - d
        self.app.handle(Request(self._rid, key, op, size, t0, t0 + self.timeout, self))

    def _refill_gaps(self) -> float:
        # the same draws as self._exp1() / self.rate, a batch at a time
        self._gaps = (self._arng.exponential(1.0, 2048) / self.rate)[::-1].tolist()
        return self._gaps.pop()


class ClosedLoopClient(Client):
    """``users`` users, each sending a request, waiting for its outcome, thinking, and sending the next.

    Args:
        users: number of users.
        think: think-time distribution.
        (other arguments: see :class:`Client`)
    """

    def __init__(self, world: World, name: str, node: str, app: Any, workload: Workload, users: int,
                 think: Dist | str | float = "exp:1.0", **kw: Any) -> None:
        super().__init__(world, name, node, app, workload, **kw)
        if int(users) != users or users < 1:
            raise UsageError(f"{name}: users must be an integer >= 1, got {users!r}")
        self.users = int(users)
        self._think = Dist.parse(think).sampler(world.rng(f"{name}:think"))
        for u in range(self.users):
            self._go(u, self._think())

    def _go(self, user: int, delay: float) -> None:
        d = self.world.network.delay(self.node, self.app.node)
        if d is None:
            # the request leaves but never arrives: it will time out
            ev = Timeout(self.env, delay, user)
            ev.callbacks.append(self._lost_send)
            return
        ev = Timeout(self.env, delay + d, (user, d))
        ev.callbacks.append(self._arrive)

    def _lost_send(self, ev: Timeout) -> None:
        key, op, size = self.draws.next()
        self._rid += 1
        self.issued += 1
        now = self.env._now
        req = Request(self._rid, key, op, size, now, now + self.timeout, self)
        req.user = ev._value
        arm_timeout(self.world, req)

    def _arrive(self, ev: Timeout) -> None:
        user, d = ev._value
        if self.env._now - d >= self.stop_at:
            return
        key, op, size = self.draws.next()
        self._rid += 1
        self.issued += 1
        t_issue = self.env._now - d
        self._send(t_issue, key, op, size, self._rid, t_issue, 0, user)

    def after(self, req: Request, t_end: float) -> None:
        self._go(req.user, (t_end - self.env._now) + self._think())
