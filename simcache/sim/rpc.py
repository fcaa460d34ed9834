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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
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


class Call:
    """One message carrying a command (or a batch of commands) to a server, and where its reply goes.

    Args:
        cmd: the command, ``(name, *args)``; for a batch, the list of commands.
        src: the caller's node (where the reply is sent).
        reply: the SimPy event the caller waits on.
        size: bytes on the wire (for links with a bandwidth).
        batch: True when ``cmd`` is a list of commands sent together (a pipeline).
    """

    __slots__ = ("cmd", "src", "reply", "size", "batch", "t_sent", "t_arrived", "conn")

    def __init__(self, cmd: Any, src: str, reply: simpy.Event, size: float = 0.0, batch: bool = False,
                 t_sent: float = 0.0, conn: Any = None) -> None:
        self.cmd = cmd
        self.src = src
        self.reply = reply
        self.size = size
        self.batch = batch
        self.t_sent = t_sent
        self.t_arrived = 0.0
        self.conn = conn


def answer(call: Call, value: Any) -> None:
    """Network delivery callback: hand ``value`` (an exception instance for an error) to the waiting caller."""
    ev = call.reply
    if ev.triggered:
        return  # the caller gave up (its deadline passed) before the reply came back
    if isinstance(value, BaseException):
        ev.fail(value)
        ev.defused = True  # nobody may be waiting any more (an app crash interrupted the caller)
    else:
        ev.succeed(value)


class Deadlines:
    """Fails waiting events with :class:`TimeoutError` at their deadlines, all with one timer process.

    Every event armed here waits the same ``timeout``, so deadlines come in
    the order they are armed: one process sleeps until the earliest one that
    is still pending, skipping those already answered.  That costs one wake-up
    per deadline that really fires plus one per ``timeout`` of busy time,
    instead of a SimPy timeout per call.

    Args:
        env: the SimPy environment.
        timeout: seconds each armed event may wait.
        message: the TimeoutError's text.
    """

    def __init__(self, env: simpy.Environment, timeout: float, message: str = "Timeout reading from socket") -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.env = env
        self.timeout = float(timeout)
        self.message = message
        self._q: deque[tuple[float, simpy.Event]] = deque()
        self._running = False
        self.fired = 0

    def arm(self, ev: simpy.Event) -> None:
        """Fail ``ev`` with TimeoutError ``timeout`` seconds from now unless it has been triggered by then."""
        self._q.append((self.env.now + self.timeout, ev))
        if not self._running:
            self._running = True
            self.env.process(self._timer())

    def _timer(self) -> Generator[simpy.Event, Any, None]:
        q = self._q
        env = self.env
        while q:
            at, ev = q[0]
            if ev.triggered:
                q.popleft()
                continue
            if at > env.now:
                yield env.timeout(at - env.now)
                continue
            q.popleft()
            self.fired += 1
            ev.fail(TimeoutError(self.message))
            ev.defused = True
        self._running = False


def call(world: World, src: str, server: Server, cmd: Any, *, size: float = 0.0, batch: bool = False,
         deadlines: Deadlines | None = None, conn: Any = None) -> Generator[simpy.Event, Any, Any]:
    """Send ``cmd`` from node ``src`` to ``server`` and wait for the answer (see the module docstring).

    Args:
        world: the simulation world.
        src: the caller's node.
        server: the server to run the command.
        cmd: ``(name, *args)``, or a list of them when ``batch``.
        size: request bytes on the wire.
        batch: send a list of commands in one message (a pipeline); the answer is the list of replies.
        deadlines: the caller's socket timeout (None: wait forever, as redis-py's default).
        conn: the connection the call uses (servers with per-connection state read it).
    """
    env = world.env
    ev = env.event()
    c = Call(cmd, src, ev, size, batch, env.now, conn)
    world.network.send(src, server.node, size, server.receive, c)
    if deadlines is not None:
        deadlines.arm(ev)
    value = yield ev
    return value


#: what a component hands the network to deliver a reply
Deliver = Callable[[Call], None]
