"""Requests and the one mechanism that moves them: scheduled steps, remote calls, timeouts.

A request is a plain object carried through a chain of callbacks, one queue
entry per step that touches shared state (a server admitting it, a reply
reaching the caller).  Stages without contention cost no event at all.  Steps
are bare calls in the environment's queue (``(time, 1, id, fn, req)``, see
:class:`~simcache.sim.world.SimEnv`) called as ``fn(req, token)``.  Each
request remembers the token of its one pending step (``req.ev``): a step
whose token is no longer the request's current one (the request timed out,
its server crashed) is ignored when it fires.  :func:`schedule` keeps the
older convention (a :class:`~simcache.sim.world.Step` event, ``fn(ev)``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Any, Protocol

from simpy.events import Timeout

from simcache.errors import UsageError
from simcache.sim.world import Step, World

Cont = Callable[["Request"], None]


class Owner(Protocol):
    """Who a request answers to (a client, or a background job's owner): its reply, or its timeout."""

    def reply(self, req: Request, t_app: float, outcome: str, detail: str) -> None:
        """The app answers ``req`` (``outcome`` "ok" or "error", ``detail`` the error) at time ``t_app``."""
        ...

    def on_timeout(self, req: Request) -> None: ...


class Request:
    """One attempt of one operation, moving through the system."""

    __slots__ = (
        "rid", "key", "op", "size", "t0", "attempt", "deadline", "owner", "done", "tmo", "ev", "k", "err",
        "result", "src", "opcode", "srv", "s_dep", "pidx", "pool", "wid", "version", "served_by", "ttl",
        "t_sent", "items", "user", "tier_times", "path",
    )

    def __init__(self, rid: int, key: Any, op: str, size: int, t0: float, deadline: float, owner: Owner) -> None:
        self.rid = rid
        self.key = key
        self.op = op
        self.size = size
        self.t0 = t0
        self.attempt = 0
        self.deadline = deadline
        self.owner = owner
        self.done = False
        self.tmo = False
        self.ev: Any = None
        self.k: Cont | None = None
        self.err: str | None = None
        self.result: Any = None
        self.src = ""
        self.opcode = ""
        self.srv: Any = None
        self.s_dep = 0.0
        self.pidx = 0
        self.pool: Pool | None = None
        self.wid = 0
        self.version = 0
        self.served_by = ""
        self.ttl: float | None = None
        self.t_sent = 0.0
        self.items: Any = None
        self.user = -1
        self.tier_times: dict[str, float] | None = None
        self.path: Any = None


def schedule(world: World, req: Request, delay: float, fn: Callable[[Any], None]) -> None:
    """Make ``fn`` the request's next step, ``delay`` from now (and arm its timeout if it ends later)."""
    if req.done:
        return
    ev = Step(fn, req)
    t = world.env._now + delay
    env = world.env
    heappush(env._queue, (t, 1, next(env._eid), ev))
    req.ev = ev
    if not req.tmo and t > req.deadline:
        arm_timeout(world, req)


def arm_timeout(world: World, req: Request) -> None:
    """Schedule the request's timeout at its deadline (once)."""
    if req.tmo or req.done or req.deadline == math.inf:
        return
    req.tmo = True
    ev = Timeout(world.env, max(req.deadline - world.env._now, 0.0), req)
    ev.callbacks.append(_timeout_fired)


def _timeout_fired(ev: Timeout) -> None:
    req: Request = ev._value
    if req.done:
        return
    req.done = True
    req.ev = None
    if req.pool is not None:
        req.pool.release(req)
    req.owner.on_timeout(req)


def lost(world: World, req: Request) -> None:
    """The request's message was dropped: nothing comes back; only its timeout will fire."""
    req.ev = None
    arm_timeout(world, req)


def complete(req: Request) -> None:
    """Hand a finished remote call back to its continuation (releasing the pooled connection)."""
    if req.pool is not None:
        req.pool.release(req)
    k = req.k
    assert k is not None
    k(req)


def deliver(ev: Timeout) -> None:
    """Event callback: a reply (or error) reached the caller with nothing left to settle."""
    req: Request = ev._value
    if ev is not req.ev:
        return
    complete(req)


def deliver_call(req: Request, tok: Any) -> None:
    """Bare-call version of :func:`deliver`."""
    if tok is not req.ev:
        return
    complete(req)


def push(world: World, req: Request, t: float, fn: Callable[[Request, Any], None]) -> None:
    """Make ``fn(req, token)`` the request's next step, at time ``t`` (and arm its timeout if it ends later)."""
    if req.done:
        return
    env = world.env
    eid = next(env._eid)
    heappush(env._queue, (t, 1, eid, fn, req))
    req.ev = eid
    if not req.tmo and t > req.deadline:
        arm_timeout(world, req)


def call(world: World, req: Request, src: str, srv: Any, opcode: str, k: Cont, pool: Pool | None = None) -> None:
    """Send ``req`` from node ``src`` to server ``srv`` to run ``opcode``; continue with ``k(req)`` at ``src``.

    On return ``req.err`` is None and ``req.result`` holds the server's answer,
    or ``req.err`` names what went wrong (refused, reset, pool_exhausted, ...).
    """
    req.err = None
    req.result = None
    req.src = src
    req.opcode = opcode
    req.k = k
    req.srv = srv
    now = req.t_sent = world.env._now
    if pool is not None and not pool.acquire(req):
        return  # waiting for a connection; the pool continues (or fails) the call
    # transmit + schedule, inlined (the common case: a direct lossless link that is up)
    lk = world.network._links.get((src, srv.node))
    if lk is not None and lk.plain and lk.up:
        buf = lk.buf
        t = now + (buf.pop() if buf else lk.refill())
    else:
        d = world.network.delay(src, srv.node, req.size if opcode == "set" else 0)
        if d is None:
            lost(world, req)
            return
        t = now + d
    if req.done:
        return
    env = world.env
    eid = next(env._eid)
    heappush(env._queue, (t, 1, eid, srv.on_arrive, req))
    req.ev = eid
    if not req.tmo and t > req.deadline:
        arm_timeout(world, req)


def transmit(world: World, req: Request) -> None:
    """Put the request on the wire to ``req.srv``."""
    srv = req.srv
    d = world.network.delay(req.src, srv.node, req.size if req.opcode == "set" else 0)
    if d is None:
        lost(world, req)
        return
    push(world, req, world.env._now + d, srv.on_arrive)


def fail_now(req: Request, err: str) -> None:
    """Finish a call immediately with an error (no network involved)."""
    req.err = err
    complete(req)


class Pool:
    """A bounded connection pool on the caller's side.

    Args:
        world: the simulation world.
        name: component name for metrics.
        size: connections (max_connections).
        wait: seconds a caller waits for a free connection before a pool-exhaustion
            error (0: fail at once, as redis-py's ConnectionPool; >0: BlockingConnectionPool).
    """

    def __init__(self, world: World, name: str, size: int, wait: float = 0.0) -> None:
        if int(size) != size or size < 1:
            raise UsageError(f"pool {name}: size must be an integer >= 1, got {size!r}")
        if wait < 0:
            raise UsageError(f"pool {name}: wait must be >= 0 seconds, got {wait!r}")
        self.world = world
        self.name = name
        self.size = int(size)
        self.wait = float(wait)
        self.in_use = 0
        self.peak = 0
        self.waiters: deque[Request] = deque()
        self.acquired = 0
        self.exhausted = 0
        self.waited = 0
        world.recorder.watch(name, self.counters, gauges=("in_use", "waiting"))

    def counters(self) -> dict[str, float]:
        return {"in_use": self.in_use, "waiting": len(self.waiters), "acquired": self.acquired,
                "exhausted": self.exhausted, "waited": self.waited}

    def acquire(self, req: Request) -> bool:
        """Take a connection for ``req`` now (True) or queue it / fail it (False)."""
        if self.in_use < self.size:
            self.in_use += 1
            self.acquired += 1
            if self.in_use > self.peak:
                self.peak = self.in_use
            req.pool = self
            return True
        if self.wait <= 0.0:
            self.exhausted += 1
            self.world.recorder.count(self.name, "pool_exhausted", self.world.env._now)
            fail_now(req, "pool_exhausted")
            return False
        self.waited += 1
        self.waiters.append(req)
        req.pool = None
        ev = Timeout(self.world.env, self.wait, req)
        ev.callbacks.append(self._gave_up)
        req.ev = ev
        return False

    def _gave_up(self, ev: Timeout) -> None:
        req: Request = ev._value
        if ev is not req.ev or req.done:
            return
        try:
            self.waiters.remove(req)
        except ValueError:
            return
        self.exhausted += 1
        self.world.recorder.count(self.name, "pool_exhausted", self.world.env._now)
        req.ev = None
        fail_now(req, "pool_exhausted")

    def release(self, req: Request) -> None:
        """Give back ``req``'s connection; the first live waiter takes it."""
        if req.pool is not self:
            return
        req.pool = None
        self.in_use -= 1
        while self.waiters:
            nxt = self.waiters.popleft()
            if nxt.done:
                continue
            self.in_use += 1
            self.acquired += 1
            nxt.pool = self
            transmit(self.world, nxt)
            break
