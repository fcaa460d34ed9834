"""Remote calls: the errors a caller sees, the message that carries a command, deadlines.

A remote call is a generator used inside a SimPy process::

    value = yield from call(world, "app", server, ("GET", "k"), timeout=0.5, deadlines=d)

It sends the command over the network to the server's node, waits on a
plain SimPy event, and returns the server's answer — or raises:

* :class:`ConnectionError` — the server's process is down on a live host
  ("Connection refused", one round trip after the send), or it crashed while
  the command was queued or in service ("Connection reset by peer", one
  network delay after the crash); a connection pool with no free connection;
* :class:`TimeoutError` — no answer within ``timeout`` seconds (the host is
  down, the path is cut, a message was lost, or the server is just slow).
  Abandoning the wait abandons only the wait: the command still reaches the
  server and runs;
* :class:`ResponseError` — the server's error reply (e.g. ``WRONGTYPE ...``).

The names follow redis-py's ``redis.exceptions`` so patterns read the same.

How a call moves (servers with ``queueing="fast"``): the caller's own process
carries its command.  It waits out the request's network delay, hands the
command to the server (which runs it at once when a worker is free, or
queues it and wakes the caller when it starts), waits out the service time,
tells the server the command is done, and waits out the reply's network
delay: three SimPy events for an uncontended call.  When the caller stops
waiting — its socket timeout, or its own host crashing (an interrupt) — the
command is handed over to plain callbacks at the point it had reached, and
goes on exactly as before: a write sent before a timeout still commits.
Servers with ``queueing="events"`` take the command as a message and answer
on an event (:func:`answer`); the two give the same outcomes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, NoReturn

import simpy

if TYPE_CHECKING:
    from simcache.sim.component import Component
    from simcache.sim.server import Server
    from simcache.sim.world import World


class RemoteError(Exception):
    """Base of everything a remote call can raise (redis-py's ``RedisError``)."""


class ConnectionError(RemoteError):  # noqa: A001 - mirrors redis.exceptions.ConnectionError
    """The connection failed: refused, reset, or no connection free in the pool."""


class TimeoutError(RemoteError):  # noqa: A001 - mirrors redis.exceptions.TimeoutError
    """No reply within the socket timeout."""


class ResponseError(RemoteError):
    """The server answered with an error reply; ``str(err)`` is the reply's text."""


class ReplyError(Exception):
    """Raised by a command handler on the server: becomes an error reply (a :class:`ResponseError` at the caller)."""


#: stages of a carried call (where the caller's process is while it waits)
FLIGHT, QUEUED, SERVICE, BACK, LOST = range(5)


class _Reset:
    """Interrupt cause: the server crashed (host up) while the call was queued or in service.

    The reset's network delay is drawn by the server at the crash (None: it was lost), with the topology then.
    """

    def __init__(self, delay: float | None, epoch: int, route: Any) -> None:
        self.delay = delay
        self.epoch = epoch
        self.route = route


class _Deadline:
    """Interrupt cause: the caller's socket timeout."""

    def __init__(self, message: str) -> None:
        self.message = message


class Call:
    """One command (or a batch of commands) on its way to a server, and where its reply goes.

    Args:
        cmd: the command, ``(name, *args)``; for a batch, the list of commands.
        src: the caller's node (where the reply is sent).
        reply: the SimPy event an uncarried caller waits on (None when the caller carries the call or left).
        size: bytes on the wire (for links with a bandwidth).
        batch: True when ``cmd`` is a list of commands sent together (a pipeline).
        t_sent: when it was sent.
        conn: the connection it uses (servers with per-connection state read it).
    """

    __slots__ = ("cmd", "src", "reply", "size", "batch", "t_sent", "t_arrived", "conn", "carrier", "stage",
                 "job", "started", "wake", "settled", "route", "epoch")

    def __init__(self, cmd: Any, src: str, reply: simpy.Event | None, size: float = 0.0, batch: bool = False,
                 t_sent: float = 0.0, conn: Any = None) -> None:
        self.cmd = cmd
        self.src = src
        self.reply = reply
        self.size = size
        self.batch = batch
        self.t_sent = t_sent
        self.t_arrived = 0.0
        self.conn = conn
        #: the process carrying the call (None once it stopped waiting, or for an uncarried call)
        self.carrier: simpy.Process | None = None
        self.stage = FLIGHT
        self.job: Any = None
        self.started: simpy.Event | None = None
        #: when the carrier's current wait ends (arrival, or end of service)
        self.wake = 0.0
        self.settled = False
        self.route: Any = None
        self.epoch = 0


def answer(call: Call, value: Any) -> None:
    """Network delivery callback: hand ``value`` (an exception instance for an error) to the waiting caller."""
    ev = call.reply
    if ev is None or ev.triggered:
        return  # nobody waits any more: the caller gave up before the reply came back
    if isinstance(value, Exception):
        ev.fail(value)
        ev.defused = True  # nobody may be waiting any more (an app crash interrupted the caller)
    else:
        ev.succeed(value)


class DeadlineQueue:
    """Calls ``expire(item)`` for each armed item still pending ``timeout`` seconds after it was armed.

    Every item waits the same ``timeout``, so deadlines come in the order
    items are armed: one process sleeps until the earliest one that is still
    pending, skipping those already settled.  That costs one wake-up per
    deadline that really fires plus about one per ``timeout`` of busy time,
    instead of a SimPy timeout per call.

    Args:
        env: the SimPy environment.
        timeout: seconds each armed item may wait.
        pending: whether an item still waits (``False``: skip it).
        expire: what to do with an item whose deadline has come.
    """

    def __init__(self, env: simpy.Environment, timeout: float, pending: Callable[[Any], bool],
                 expire: Callable[[Any], None]) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.env = env
        self.timeout = float(timeout)
        self._pending = pending
        self._expire = expire
        self._q: deque[tuple[float, Any]] = deque()
        self._running = False
        self.fired = 0

    def arm(self, item: Any) -> None:
        """Expire ``item`` ``timeout`` seconds from now unless it is settled by then."""
        self._q.append((self.env.now + self.timeout, item))
        if not self._running:
            self._running = True
            self.env.process(self._timer())

    def _timer(self) -> Generator[simpy.Event, Any, None]:
        q = self._q
        env = self.env
        pending = self._pending
        while q:
            at, item = q[0]
            if not pending(item):
                q.popleft()
                continue
            if at > env.now:
                yield env.timeout(at - env.now)
                continue
            q.popleft()
            self.fired += 1
            self._expire(item)
        self._running = False


class Deadlines(DeadlineQueue):
    """A socket timeout: each armed call (or plain event) gets ``TimeoutError`` ``timeout`` seconds after arming.

    A carried call's process is interrupted (the call goes on without it); an
    event is failed with the error.

    Args:
        env: the SimPy environment.
        timeout: seconds each armed call or event may wait.
        message: the TimeoutError's text.
    """

    def __init__(self, env: simpy.Environment, timeout: float, message: str = "Timeout reading from socket") -> None:
        super().__init__(env, timeout, _waiting, self._expire_one)
        self.message = message

    def _expire_one(self, x: Call | simpy.Event) -> None:
        ev: simpy.Event | None = x if isinstance(x, simpy.Event) else None
        if isinstance(x, Call):
            x.settled = True
            if x.carrier is not None:
                if x.carrier.is_alive:
                    x.carrier.interrupt(_Deadline(self.message))
                return
            ev = x.reply
        if ev is not None and not ev.triggered:
            ev.fail(TimeoutError(self.message))
            ev.defused = True


def _waiting(x: Call | simpy.Event) -> bool:
    return not x.settled if isinstance(x, Call) else not x.triggered


def call(world: World, src: str, server: Server, cmd: Any, *, size: float = 0.0, batch: bool = False,
         deadlines: DeadlineQueue | None = None, conn: Any = None,
         host: Component | None = None) -> Generator[simpy.Event, Any, Any]:
    """Send ``cmd`` from node ``src`` to ``server`` and wait for the answer (see the module docstring).

    Args:
        world: the simulation world.
        src: the caller's node.
        server: the server to run the command.
        cmd: ``(name, *args)``, or a list of them when ``batch``.
        size: request bytes on the wire.
        batch: send a list of commands in one message (a pipeline); the answer is the list of replies.
        deadlines: the caller's socket timeout (:class:`Deadlines`; None: wait forever, as redis-py's default).
        conn: the connection the call uses (servers with per-connection state read it).
        host: the component the caller runs on: a call made while its process is down (a ``finally`` block
            running in a crashed app) fails at once with ConnectionError and sends nothing.
    """
    env = world.env
    if host is not None and not host.up:
        raise ConnectionError("the calling process is down")
    c = Call(cmd, src, None, size, batch, env.now, conn)
    if deadlines is not None:
        deadlines.arm(c)
    if not server.carried:
        c.reply = ev = env.event()
        world.network.send(src, server.node, size, server.receive, c)
        try:
            value = yield ev
        finally:
            c.settled = True
        return value
    c.carrier = env.active_process
    try:
        return (yield from _carry(world, server, c))
    except simpy.Interrupt as i:
        c.carrier = None
        cause = i.cause
        if not isinstance(cause, _Reset):
            _hand_over(world, server, c)
            c.settled = True
            if isinstance(cause, _Deadline):
                raise TimeoutError(cause.message) from None
            raise  # the caller's own host crashed: the interrupt is for it
    # the server crashed while the call was queued or in service (host up): the reset travels back like any
    # message, and the socket timeout may still come first
    c.carrier = env.active_process
    c.stage = BACK
    net = world.network
    try:
        if cause.delay is None:
            return (yield from _lost(c, env))
        yield env.timeout(cause.delay)
        if net.epoch != cause.epoch and not net.still_up(server.node, c.src, cause.epoch, cause.route):
            yield from _lost(c, env)
    except simpy.Interrupt as j:
        c.carrier = None
        c.settled = True
        if isinstance(j.cause, _Deadline):
            raise TimeoutError(j.cause.message) from None
        raise
    c.settled = True
    raise ConnectionError("Connection reset by peer")


def _lost(c: Call, env: simpy.Environment) -> Generator[simpy.Event, Any, NoReturn]:
    """The call's message was lost: wait on an event nothing triggers, until the deadline interrupts."""
    c.stage = LOST
    yield env.event()
    raise AssertionError("a lost call was resumed")  # pragma: no cover - only interrupts end the wait


def _back(world: World, server: Server, c: Call, size: float = 0.0) -> Generator[simpy.Event, Any, None]:
    """The reply's trip from the server to the caller (lost: wait for the deadline)."""
    net = world.network
    env = world.env
    d = net.transit(server.node, c.src, size)
    if d is None:
        yield from _lost(c, env)
        return
    epoch = net.epoch
    route = net.route(server.node, c.src)
    yield env.timeout(d)
    if net.epoch != epoch and not net.still_up(server.node, c.src, epoch, route):
        yield from _lost(c, env)


def _carry(world: World, server: Server, c: Call) -> Generator[simpy.Event, Any, Any]:
    env = world.env
    net = world.network
    d = net.transit(c.src, server.node, c.size)
    if d is None:
        return (yield from _lost(c, env))
    c.epoch = net.epoch
    c.route = net.route(c.src, server.node)
    c.wake = env.now + d
    yield env.timeout(d)
    if net.epoch != c.epoch and not net.still_up(c.src, server.node, c.epoch, c.route):
        yield from _lost(c, env)
    refusal = server.receive(c)
    if refusal is not None:
        c.stage = BACK
        yield from _back(world, server, c)
        c.settled = True
        raise refusal
    if c.job is None:
        if not server.host_up or not server.up:
            yield from _lost(c, env)  # arrived at a host that is down: no answer ever
        c.stage = QUEUED
        c.started = env.event()
        yield c.started
    job = c.job
    c.stage = SERVICE
    c.wake = job.end
    yield env.timeout(job.end - env.now)
    while True:
        extra = server.complete(job)
        if extra == 0.0:
            break
        if extra < 0.0:
            yield from _lost(c, env)  # the server crashed with its host: no reset comes
        c.wake = env.now + extra
        yield env.timeout(extra)
    reply = job.reply
    if server.deferred(job):
        # a blocked command: its reply comes later, over the network
        c.stage = BACK
        c.reply = ev = env.event()
        c.carrier = None
        try:
            return (yield ev)
        finally:
            c.settled = True
    c.stage = BACK
    yield from _back(world, server, c, server.reply_size(reply))
    c.settled = True
    if isinstance(reply, BaseException):
        raise reply
    return reply


def send(world: World, src: str, server: Server, cmd: Any, *, size: float = 0.0, batch: bool = False,
         conn: Any = None, host: Component | None = None) -> None:
    """Send ``cmd`` and do not wait (a ``noreply`` command): it travels and runs by itself; nothing comes back.

    Nothing is sent when ``host``, the caller's component, is down.
    """
    if host is not None and not host.up:
        return
    c = Call(cmd, src, None, size, batch, world.env.now, conn)
    world.network.send(src, server.node, size, server.deliver, c)


def _hand_over(world: World, server: Server, c: Call) -> None:
    """The carrier stopped waiting: let the call go on by itself from where it was."""
    stage = c.stage
    if stage == FLIGHT:
        server.arrive_later(c, c.wake - world.env.now)
    elif stage == SERVICE:
        server.finish_later(c.job, c.wake - world.env.now)
    # QUEUED: the server starts it without a carrier; BACK, LOST: nothing is left to do
