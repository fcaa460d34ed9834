"""App servers: where a request's process runs the caching strategy's code.

A client's request is one SimPy process.  ``yield from app.serve(...)``
carries it across the network to the app (one network delay), runs the
app's CPU time and the strategy's ``get``/``set`` there — remote calls to
Redis and the database made with ``yield from`` — and carries the answer
back.  The app is a :class:`~simcache.sim.component.Component`:

* **crash**: every request running on the app is interrupted; its client
  gets a connection reset one network delay later (nothing, when the host is
  down); background processes (a write-behind flusher) die with the app and
  the strategy's in-memory state is lost; requests arriving while it is down
  are refused (or unanswered with the host down).  A restart builds the
  strategy afresh (and restarts its background processes).
* **pause**: a request arriving during a pause waits for its end; a request
  whose remote call answers during a pause resumes after it (the clients
  check the host's pause after each reply).

The app can keep an in-process near cache (``local``) in front of the
strategy: a hit there skips the strategy entirely; a miss fills it; a write
through this app deletes its own copy only (other apps' copies stay until
their TTL).

Which tier answered a read is observed, not guessed: the remote clients
record, per process, the server that returned the last
:class:`~simcache.sim.oracle.Value` (:meth:`World.note_served`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.sim.component import Component
from simcache.sim.dists import Dist
from simcache.sim.network import MessageLost
from simcache.sim.oracle import Value
from simcache.sim.rpc import ConnectionError, RemoteError
from simcache.sim.world import World
from simcache.store import Cache


class App(Component):
    """An app server running a strategy built by ``factory(app)`` (rebuilt at each restart).

    Args:
        world: the simulation world.
        name: component name (also its node unless ``node`` is given).
        factory: ``factory(app)`` builds the strategy object (with ``get(key)`` and ``set(key, value)`` generator
            methods) whose clients run on ``app``.
        node: network node.
        cpu: CPU time the app spends on each request.
        local: an in-process near cache (a :class:`~simcache.store.Cache`), or None.
        local_ttl: seconds a near-cache fill stays (None: until evicted).
        local_lookup: CPU time of one near-cache lookup.
    """

    GAUGES = ("up", "active")

    def __init__(self, world: World, name: str, factory: Callable[[App], Any], node: str | None = None,
                 cpu: Dist | str | float = "const:0.0002", local: Cache | None = None,
                 local_ttl: float | None = None, local_lookup: Dist | str | float = "const:0.00001") -> None:
        super().__init__(world, name, node)
        self.factory = factory
        self.cpu = Dist.parse(cpu)
        self._cpu = self.cpu.sampler(world.rng(f"{name}:cpu"))
        self.local = local
        self.local_ttl = local_ttl
        self.local_lookup = Dist.parse(local_lookup)
        self._lookup = self.local_lookup.sampler(world.rng(f"{name}:lookup"))
        if local_ttl is not None and not local_ttl > 0:
            raise UsageError(f"{name}: local_ttl must be > 0 seconds or None, got {local_ttl!r}")
        #: processes running on this app (requests and background work), interrupted by a crash
        self.active: dict[simpy.Process, None] = {}
        self.requests = 0
        self.refused = 0
        self.resets = 0
        self.strategy: Any = factory(self)
        self.watch()

    def counters(self) -> dict[str, float]:
        d = {"up": float(self.up), "active": float(len(self.active)), "requests": self.requests,
             "refused": self.refused, "resets": self.resets}
        if self.local is not None:
            st = self.local.stats
            d.update(hits=st.hits, misses=st.misses, evictions=st.evictions, expired=st.expired, keys=len(self.local))
        return d

    # ------------------------------------------------------------ processes
    def spawn(self, gen: Generator[simpy.Event, Any, Any]) -> simpy.Process:
        """Run ``gen`` as a background process of this app: it dies (quietly) when the app crashes."""
        return self.env.process(self._background(gen))

    def _background(self, gen: Generator[simpy.Event, Any, Any]) -> Generator[simpy.Event, Any, Any]:
        proc = self.env.active_process
        assert proc is not None
        self.active[proc] = None
        try:
            return (yield from gen)
        except simpy.Interrupt:
            return None
        finally:
            self.active.pop(proc, None)

    def serve(self, src: str, op: str, key: Any, value: Any = None) -> Generator[simpy.Event, Any, Any]:
        """Carry a request from node ``src`` to this app, run it, and carry the answer back.

        Returns ``(answer, served_by)``: a read's value and the component that supplied it (the near
        cache's name, a server's name, or "" when nothing did).  Raises :class:`MessageLost` when the
        request or the answer is lost, :class:`~simcache.sim.rpc.ConnectionError` when the app is down
        (refused) or crashes while running it (reset), and whatever the strategy raises.
        """
        env = self.env
        yield from self.world.network.hop(src, self.node, getattr(value, "size", 0))
        if not self.up:
            if not self.host_up:
                raise MessageLost
            self.refused += 1
            yield from self.world.network.hop(self.node, src)
            raise ConnectionError("Connection refused")
        while env.now < self.paused_until:
            yield env.timeout(self.paused_until - env.now)
        proc = env.active_process
        assert proc is not None
        self.active[proc] = None
        self.requests += 1
        served = ""
        answer: Any = None
        failure: RemoteError | None = None
        epoch = self.epoch
        crashed = False
        try:
            try:
                answer, served = yield from self._run(op, key, value, proc)
            except RemoteError as err:
                # the app answers with the error (it travels back like any answer) -- unless the app died
                # meanwhile and this came from code still unwinding in the dead process
                crashed = self.epoch != epoch
                failure = err
        except simpy.Interrupt:
            crashed = True
        finally:
            self.active.pop(proc, None)
            self.world.served_by.pop(proc, None)
        if crashed:
            if not self.host_up:
                raise MessageLost
            self.resets += 1
            yield from self.world.network.hop(self.node, src)
            raise ConnectionError("Connection reset by peer")
        # the answer has left the app: a crash from now on does not stop it
        yield from self.world.network.hop(self.node, src, getattr(answer, "size", 0))
        if failure is not None:
            raise failure
        return answer, served

    def _run(self, op: str, key: Any, value: Any, proc: simpy.Process) -> Generator[simpy.Event, Any, Any]:
        env = self.env
        local = self.local
        cost = self._cpu()
        if local is not None:
            cost += self._lookup()
        if cost > 0:
            yield env.timeout(cost)
            while env.now < self.paused_until:
                yield env.timeout(self.paused_until - env.now)
        strategy = self.strategy
        if op == "read":
            if local is not None:
                e = local.get_entry(key)
                if e is not None:
                    return e.value, self.name
            answer = yield from strategy.get(key)
            served = self.world.served_by.pop(proc, "")
            if local is not None and isinstance(answer, Value):
                local.set(key, answer, ttl=self.local_ttl)
            return answer, served
        if op == "write":
            try:
                result = yield from strategy.set(key, value)
            finally:
                # this app's own copy goes whatever happened remotely (it may be stale either way)
                if local is not None:
                    local.delete(key)
            return result, ""
        raise UsageError(f"{self.name}: unknown operation {op!r} (expected read or write)")

    # --------------------------------------------------------------- faults
    def on_crash(self) -> None:
        for proc in list(self.active):
            if proc.is_alive:
                proc.interrupt("crash")
        hook = getattr(self.strategy, "on_crash", None)
        lost = hook() if hook is not None else None
        if lost:
            self.world.recorder.count(self.name, "writes_lost", self.env.now, len(lost))

    def on_restart(self) -> None:
        self.strategy = self.factory(self)

    def reset_state(self) -> None:
        if self.local is not None:
            self.local.clear()
