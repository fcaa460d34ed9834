"""Servers: a command table over some state, FIFO workers, and the server half of the failure contract.

A server is a :class:`~simcache.sim.component.Component` with a table of
commands (name -> handler method, declared with :func:`command`).  A
:class:`~simcache.sim.rpc.Call` reaching the server's node queues FIFO for
one of ``workers`` identical workers (1: a single event loop, as Redis;
N: N threads, as Memcached or a database's connection pool).  The contract:

* A command **takes effect when its service starts**: its handler runs then,
  against the state as it is then; the reply leaves when the service time
  (drawn from the server's own ``NAME:service`` stream) has elapsed.
* A **crash** voids every command that has not started: queued commands are
  never applied.  Callers of queued and in-service commands get a
  ``ConnectionError`` ("reset") one network delay later when the host stays
  up, and nothing (they time out) when the host is down.  A call arriving at
  a crashed server is refused the same way.  A reply that has already left is
  delivered if its path stays up.
* A **pause** suspends service: nothing starts during it, and a command in
  service finishes later by the overlap.  Requests queue meanwhile.
* A run-time change of the service distribution (:meth:`Server.set_service`)
  applies to commands that start after it.

Two queueing engines give the same outcomes, event for event:

* ``"fast"`` (default): a deque and one SimPy timeout per command; a command
  starts at its arrival when a worker is free, or when the command before it
  ends.  Pauses are accounted with :attr:`Component.pause_total`: a command
  whose service overlapped a pause is re-scheduled by the overlap when its
  timeout fires.
* ``"events"``: ``workers`` SimPy processes taking calls from a
  ``simpy.Store``; pauses and crashes interrupt them.  Slower, and the
  obvious reading of the contract; the tests check the two agree under
  crashes and pauses.

A handler returns the reply value, raises :class:`~simcache.sim.rpc.ReplyError`
for an error reply, or returns a :class:`Deferred` whose reply is sent later
(a blocking command such as ``BRPOP``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any, ClassVar, Literal, cast

import simpy

from simcache.errors import UsageError
from simcache.sim.component import Component
from simcache.sim.dists import Dist
from simcache.sim.rpc import SERVICE, Call, ConnectionError, ReplyError, ResponseError, _Reset, answer
from simcache.sim.world import World

Queueing = Literal["fast", "events"]
QUEUEINGS = ("fast", "events")

Handler = Callable[..., Any]


def command(*names: str) -> Callable[[Handler], Handler]:
    """Declare a server method as the handler of command ``names`` (case-insensitive at dispatch)."""

    def deco(fn: Handler) -> Handler:
        fn._commands = tuple(n.upper() for n in names)  # type: ignore[attr-defined]
        return fn

    return deco


class Deferred:
    """A reply a handler will give later (a blocked client); :meth:`resolve` sends it.

    A value resolved while the command is still in service is kept and sent when the service ends.
    """

    __slots__ = ("server", "call", "epoch", "done", "early")

    def __init__(self) -> None:
        self.server: Server | None = None
        self.call: Call | None = None
        self.epoch = -1
        self.done = False
        self.early: Any = None

    def resolve(self, value: Any) -> bool:
        """Send ``value`` (an exception instance for an error reply) as the reply; False if it is too late."""
        if self.done:
            return False
        srv = self.server
        if srv is None or self.call is None:
            self.done = True  # still in service: the reply leaves when the service ends
            self.early = value
            return True
        if srv.epoch != self.epoch:
            return False
        self.done = True
        srv._deferred.pop(self, None)
        srv._send(self.call, value)
        return True


class _Job:
    """A command in service: its reply (computed at the start), and the pause total when it last resumed."""

    __slots__ = ("call", "reply", "epoch", "mark", "start", "end")

    def __init__(self, call: Call, reply: Any, epoch: int, mark: float, start: float, end: float) -> None:
        self.call = call
        self.reply = reply
        self.epoch = epoch
        self.mark = mark
        self.start = start
        self.end = end


class _NoReply:
    """The reply of a command that answers nothing (memcached's ``noreply``)."""

    def __repr__(self) -> str:
        return "NO_REPLY"


#: return it from a handler (or as every reply of a batch) to send nothing back
NO_REPLY = _NoReply()


def size_of(value: Any) -> int:
    """Bytes a value takes on the wire: ``len`` of bytes/str, ``.size`` of a :class:`Value`, else 0."""
    if isinstance(value, bytes | str):
        return len(value)
    return int(getattr(value, "size", 0) or 0)


class Server(Component):
    """A FIFO server with a command table.

    Args:
        world: the simulation world.
        name: component name (metrics, random streams, fault targets).
        node: network node (default: ``name``).
        service: service time of one command (a distribution, e.g. ``"exp:0.0001"``).
        workers: commands served in parallel (1: one event loop).
        queueing: ``"fast"`` or ``"events"`` (see the module docstring).
    """

    #: command name -> handler, collected from methods marked with :func:`command`
    COMMANDS: ClassVar[dict[str, Handler]] = {}
    GAUGES: tuple[str, ...] = ("up", "queued", "busy_workers")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(getattr(cls, "COMMANDS", {}))
        for attr in vars(cls).values():
            for n in getattr(attr, "_commands", ()):
                table[n] = attr
                table[n.encode()] = attr  # clients send command names encoded, as on the wire
        cls.COMMANDS = table

    def __init__(self, world: World, name: str, node: str | None = None, service: Dist | str | float = "exp:0.0001",
                 workers: int = 1, queueing: Queueing = "fast") -> None:
        super().__init__(world, name, node)
        if int(workers) != workers or workers < 1:
            raise UsageError(f"{name}: workers must be an integer >= 1, got {workers!r}")
        if queueing not in QUEUEINGS:
            raise UsageError(f"{name}: queueing must be one of {', '.join(QUEUEINGS)}, got {queueing!r}")
        self.workers = int(workers)
        self.queueing = queueing
        self._svc_rng = world.rng(f"{name}:service")
        self.service = Dist.parse(service)
        self._svc = self.service.sampler(self._svc_rng)
        #: the call whose handler is running (handlers read the caller's connection from it)
        self.current: Call | None = None
        self.queue: deque[Call] = deque()
        self.busy = 0
        self._in_service: dict[_Job, None] = {}
        self._deferred: dict[Deferred, None] = {}
        self.commands_done = 0
        self.busy_time = 0.0
        self.wait_time = 0.0
        self.refused = 0
        self.resets = 0
        self.errors = 0
        if queueing == "events":
            self._store: simpy.Store = simpy.Store(self.env)
            self._holding: dict[simpy.Process, list[Any]] = {}
            self._resumed: simpy.Event | None = None
            self._procs = [self.env.process(self._worker()) for _ in range(self.workers)]

    # ------------------------------------------------------------ metrics
    def counters(self) -> dict[str, float]:
        return {"up": float(self.up), "commands": self.commands_done, "busy": self.busy_time,
                "wait": self.wait_time, "queued": float(self.queued), "busy_workers": float(self.busy),
                "refused": self.refused, "resets": self.resets, "error_replies": self.errors}

    @property
    def queued(self) -> int:
        """Calls waiting for a worker."""
        return len(self._store.items) if self.queueing == "events" else len(self.queue)

    def set_service(self, service: Dist | str | float) -> None:
        """Change the service-time distribution; applies to commands starting after the change."""
        self.service = Dist.parse(service)
        self._svc = self.service.sampler(self._svc_rng)

    # ----------------------------------------------------------- behaviour
    def execute(self, call: Call) -> Any:
        """Run the call's command(s) now; the reply (an exception instance for an error reply)."""
        self.current = call
        try:
            if call.batch:
                return [self.dispatch(c) for c in call.cmd]
            return self.dispatch(call.cmd)
        finally:
            self.current = None

    def dispatch(self, cmd: tuple[Any, ...]) -> Any:
        """One command through the table: its reply, or a ResponseError instance for an error reply."""
        name = cmd[0]
        handler = self.COMMANDS.get(name)
        if handler is None:
            handler = self.COMMANDS.get(name.decode(errors="replace").upper() if isinstance(name, bytes)
                                        else str(name).upper())
        if handler is None:
            self.errors += 1
            return ResponseError(self.unknown_command(cmd))
        try:
            return handler(self, *cmd[1:])
        except ReplyError as err:
            self.errors += 1
            return ResponseError(str(err))
        except TypeError as err:
            if "positional argument" in str(err) or "required" in str(err):
                self.errors += 1
                return ResponseError(self.wrong_arity(cmd))
            raise

    def unknown_command(self, cmd: tuple[Any, ...]) -> str:
        """The error text for a command the table does not have."""
        return f"ERR unknown command '{cmd[0]}'"

    def wrong_arity(self, cmd: tuple[Any, ...]) -> str:
        """The error text for a command called with the wrong number of arguments."""
        name = cmd[0].decode(errors="replace") if isinstance(cmd[0], bytes) else str(cmd[0])
        return f"ERR wrong number of arguments for '{name.lower()}' command"

    def service_time(self, call: Call) -> float:
        """Service time of the call just executed (one draw per command of a batch)."""
        if call.batch:
            return sum(self._svc() for _ in call.cmd)
        return self._svc()

    # -------------------------------------------------------------- arrival
    @property
    def carried(self) -> bool:
        """Whether callers carry their calls through this server (the fast engine; see :mod:`simcache.sim.rpc`)."""
        return self.queueing == "fast"

    def receive(self, call: Call) -> ConnectionError | None:
        """``call`` reaches the server's node: start it, queue it, or refuse it.

        Returns the refusal for a carried call to a crashed server on a live host (the carrier brings it
        back); for other calls the refusal is sent over the network.  A host that is down drops the call.
        """
        if not self.up:
            if not self.host_up:
                return None
            self.refused += 1
            err = ConnectionError("Connection refused")
            if call.carrier is not None:
                return err
            self._send(call, err)
            return None
        call.t_arrived = self.env.now
        if self.queueing == "events":
            self._store.put(call)
        elif self.busy < self.workers and self.env.now >= self.paused_until:
            self._start(call)
        else:
            self.queue.append(call)
        return None

    def deliver(self, call: Call) -> None:
        """Network delivery of a call nobody carries (a refusal, if any, is sent back by :meth:`receive`)."""
        self.receive(call)

    def arrive_later(self, call: Call, delay: float) -> None:
        """A call whose carrier stopped waiting mid-flight: it still arrives ``delay`` from now (if its path holds)."""
        net = self.world.network
        net.deliver_later(call.src, self.node, delay, call.epoch, call.route, self.deliver, call)

    def _send(self, call: Call, value: Any) -> None:
        # sent even when the caller has stopped waiting: the reply still crosses the network (and draws its delay)
        self.world.network.send(self.node, call.src, self.reply_size(value), _deliver, (call, value))

    def reply_size(self, reply: Any) -> int:
        """Bytes of a reply on the wire."""
        return size_of(reply)

    # ------------------------------------------------------- fast engine
    def _start(self, call: Call) -> None:
        env = self.env
        now = env.now
        self.busy += 1
        self.wait_time += now - call.t_arrived
        reply = self.execute(call)
        job = _Job(call, reply, self.epoch, self.pause_total, now, now + self.service_time(call))
        call.job = job
        self._in_service[job] = None
        if call.carrier is None:
            self.finish_later(job, job.end - now)
        elif call.started is not None:
            # the carrier waited in the queue: its service starts now (and if it stops waiting before it
            # resumes, the hand-over must finish this job)
            call.stage, call.wake = SERVICE, job.end
            call.started.succeed()

    def finish_later(self, job: _Job, delay: float) -> None:
        """Complete ``job`` by a callback ``delay`` from now (nobody carries it)."""
        t = self.env.timeout(delay, job)
        t.callbacks.append(self._finish)

    def _finish(self, ev: simpy.Event) -> None:
        job = cast(_Job, ev.value)
        extra = self.complete(job)
        if extra > 0.0:
            self.finish_later(job, extra)
        elif extra == 0.0 and not isinstance(job.reply, Deferred) and job.reply is not NO_REPLY:
            self._send(job.call, job.reply)

    def complete(self, job: _Job) -> float:
        """The service time of ``job`` has elapsed: 0 when it is done, the extra time a pause added, or -1
        when the server crashed meanwhile (no reply leaves)."""
        if job.epoch != self.epoch:
            return -1.0
        extra = self.pause_total - job.mark
        if extra > 0.0:
            job.mark = self.pause_total
            return extra
        del self._in_service[job]
        self.busy -= 1
        self._account(job.call, job.reply, job.start)
        self._next()
        return 0.0

    def deferred(self, job: _Job) -> bool:
        """Whether ``job``'s reply comes later (a blocked command), or never (:data:`NO_REPLY`)."""
        return isinstance(job.reply, Deferred) or job.reply is NO_REPLY

    def _next(self, _ev: Any = None) -> None:
        q = self.queue
        while q and self.busy < self.workers and self.up and self.env.now >= self.paused_until:
            self._start(q.popleft())

    def _account(self, call: Call, reply: Any, start: float) -> None:
        self.commands_done += len(call.cmd) if call.batch else 1
        self.busy_time += self.env.now - start
        if isinstance(reply, Deferred):
            reply.server, reply.call, reply.epoch = self, call, self.epoch
            if not reply.done:
                self._deferred[reply] = None
            elif reply.early is not None:
                self._send(call, reply.early)

    # ----------------------------------------------------- events engine
    def _worker(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        me = env.active_process
        assert me is not None
        while True:
            call: Call = yield self._store.get()
            slot: list[Any] = [call]
            self._holding[me] = slot
            try:
                while env.now < self.paused_until:
                    # one shared event per pause, so workers held at the gate start in the order they took calls
                    yield self._pause_over_event()
                self.busy += 1
                self.wait_time += env.now - call.t_arrived
                start = env.now
                reply = self.execute(call)
                slot.append(reply)
                slot.append(start)
                remaining = self.service_time(call)
                while remaining > 0 or env.now < self.paused_until:
                    if env.now < self.paused_until:
                        try:
                            yield env.timeout(self.paused_until - env.now)
                        except simpy.Interrupt as i:
                            if i.cause == "crash":
                                raise
                        continue
                    t0 = env.now
                    try:
                        yield env.timeout(remaining)
                        remaining = 0.0
                    except simpy.Interrupt as i:
                        if i.cause == "crash":
                            raise
                        remaining -= env.now - t0  # a pause began: the rest of the work waits for its end
                self.busy -= 1
                del self._holding[me]
                self._account(call, reply, start)
                if not isinstance(reply, Deferred) and reply is not NO_REPLY:
                    self._send(call, reply)
            except simpy.Interrupt:
                self._holding.pop(me, None)
                if len(slot) == 3:
                    self.busy -= 1

    # --------------------------------------------------------------- faults
    def on_crash(self) -> None:
        # what the crash voids, in one order for both engines (in service by start, then waiting by arrival), so
        # the resets draw their network delays in the same order
        started: list[tuple[float, Call]] = []
        waiting: list[Call] = []
        if self.queueing == "events":
            waiting.extend(self._store.items)
            self._store.items.clear()
            for proc, slot in list(self._holding.items()):
                if len(slot) == 3:
                    started.append((slot[2], slot[0]))
                else:
                    waiting.append(slot[0])
                proc.interrupt("crash")
        else:
            waiting.extend(self.queue)
            self.queue.clear()
            started.extend((j.start, j.call) for j in self._in_service)
            self._in_service.clear()
            self.busy = 0
        voided = [c for _, c in sorted(started, key=lambda x: x[0])]
        voided += sorted(waiting, key=lambda c: c.t_arrived)
        voided += [d.call for d in self._deferred if d.call is not None]
        self._deferred.clear()
        if not self.host_up:
            return  # the machine is gone: nobody hears anything; callers wait for their timeouts
        net = self.world.network
        for c in voided:
            self.resets += 1
            if c.carrier is not None:
                d = net.transit(self.node, c.src)
                route = net.route(self.node, c.src)
                if c.carrier.is_alive:
                    c.carrier.interrupt(_Reset(d, net.epoch, route))
            else:
                self._send(c, ConnectionError("Connection reset by peer"))

    def _pause_over_event(self) -> simpy.Event:
        if self._resumed is None:
            self._resumed = self.env.event()
        return self._resumed

    def _pause_over(self, _ev: Any) -> None:
        if self.env.now >= self.paused_until and self._resumed is not None:
            ev, self._resumed = self._resumed, None
            ev.succeed()

    def on_pause(self, until: float) -> None:
        if self.queueing == "events":
            t = self.env.timeout(until - self.env.now)
            t.callbacks.append(self._pause_over)
            for proc, slot in list(self._holding.items()):
                if len(slot) == 3:
                    proc.interrupt("pause")
        else:
            t = self.env.timeout(until - self.env.now)
            t.callbacks.append(self._next)


def _deliver(msg: tuple[Call, Any]) -> None:
    call, value = msg
    answer(call, value)
