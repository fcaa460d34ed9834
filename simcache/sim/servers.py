"""Servers: FIFO queues with one or more workers, a failure seam, and the cache servers built on them.

A :class:`Server` runs each arriving command in FIFO order on ``workers``
workers.  With ``queueing="lindley"`` (the default) the start time is computed
on arrival (Lindley's recursion, start = max(arrival, earliest free worker);
exact for FCFS with any number of workers) and the command's effect on the
server's state is applied at once with the server clock set to that start
time, so the request costs one event at the server and one for the reply.
``queueing="events"`` runs the same logic event by event through a SimPy
``Resource``; both give the same results on the same seed, which the tests check.

Failure seam (every server): :meth:`Server.crash`, :meth:`Server.restart`,
:meth:`Server.pause`.  A crash fails every command in flight (the caller gets
a ``reset`` error one network delay later) and refuses new ones until restart;
a pause (GC, fork) stops all workers for a while, delaying everything in flight.
"""

from __future__ import annotations

import heapq
from typing import Any, Literal

import simpy

from simcache.errors import UsageError
from simcache.sim.core import Request, arm_timeout, deliver_call, lost, push
from simcache.sim.dists import Dist
from simcache.sim.fastlru import flat, lru_get, lru_set
from simcache.sim.world import World
from simcache.store import Cache

Queueing = Literal["lindley", "events"]


class Server:
    """A FIFO server with ``workers`` identical workers.

    Args:
        world: the simulation world (its network must hold ``node``).
        name: component name (metrics, random stream).
        node: network node the server sits on.
        service: service-time distribution of one command.
        workers: parallel workers (1: a single event loop).
        queueing: "lindley" (computed at arrival) or "events" (SimPy Resource).
    """

    #: scraped values that are levels (recorded as they are), not cumulative counts (recorded as rates)
    GAUGES: tuple[str, ...] = ("in_flight", "up")

    def __init__(self, world: World, name: str, node: str, service: Dist | str | float, workers: int = 1,
                 queueing: Queueing = "lindley") -> None:
        if int(workers) != workers or workers < 1:
            raise UsageError(f"{name}: workers must be an integer >= 1, got {workers!r}")
        if queueing not in ("lindley", "events"):
            raise UsageError(f"{name}: queueing must be 'lindley' or 'events', got {queueing!r}")
        self.world = world
        self.env = world.env
        self.name = name
        self.node = node
        self.workers = int(workers)
        self.queueing = queueing
        self.service = Dist.parse(service)
        self.rng = world.rng(name)
        self._svcb = self.service.buffered(self.rng)
        self._svc = self._svcb
        self._t = 0.0  # the server's own clock: the start time of the command being executed
        self._free1 = 0.0
        self._heap = [0.0] * self.workers
        self._res = simpy.Resource(self.env, capacity=self.workers) if queueing == "events" else None
        self.up = True
        self.crashes = 0
        self.pauses: list[tuple[float, float]] = []
        self.paused_until = 0.0
        self.inflight: dict[Request, None] = {}
        self._npauses = 0
        self._net = world.network
        self._links: dict[Any, Any] = world.network._links if world.network is not None else {}
        self.ops = 0
        self.busy = 0.0
        self.wait_sum = 0.0
        self.refused = 0
        self.reset = 0
        world.recorder.watch(name, self.counters, gauges=self.GAUGES)

    # ------------------------------------------------------------- metrics
    def counters(self) -> dict[str, float]:
        """Cumulative counters and gauges scraped by the recorder."""
        return {"commands": self.ops, "busy": self.busy, "wait": self.wait_sum, "in_flight": len(self.inflight),
                "refused": self.refused, "reset": self.reset, "up": float(self.up)}

    def clock(self) -> float:
        """The server's clock (the start time of the command it is executing)."""
        return self._t

    # ----------------------------------------------------------- behaviour
    def execute(self, req: Request) -> Any:
        """Apply ``req.opcode`` to the server's state at time ``self._t``; return the answer."""
        return None

    def service_time(self, req: Request) -> float:
        """Service time of the command just executed."""
        return self._svc()

    # ------------------------------------------------------------ queueing
    def arrive(self, ev: Any) -> None:
        """Event callback: ``req`` (``ev.value``) reaches the server (for callers scheduling :class:`Step` events)."""
        self.on_arrive(ev._value, ev)

    def on_arrive(self, req: Request, tok: Any) -> None:
        """Queue callback: ``req`` reaches the server (ignored unless ``tok`` is its pending step)."""
        if tok is not req.ev:
            return
        world = self.world
        if not self.up:
            self.refused += 1
            self._error_back(req, "refused")
            return
        # the reply's network delay, drawn on arrival in both queueing modes so both consume draws alike
        src = req.src
        if self._net is None:  # the network was built after the server
            self._net = world.network
            self._links = world.network._links
        lk = self._links.get((self.node, src))
        if lk is not None and lk.plain and lk.up:
            buf = lk.buf
            back: float | None = buf.pop() if buf else lk.refill()
        else:
            back = self._net.delay(self.node, src, req.size if req.opcode == "get" else 0)
        if self._res is not None:
            arm_timeout(world, req)
            self.env.process(self._serve(req, back))
            return
        now = self.env._now
        # Lindley's recursion: start = max(arrival, earliest free worker); FCFS, so exact at arrival
        if self.workers == 1:
            start = self._free1 if self._free1 > now else now
            self._t = start
            req.result = self.execute(req)
            svc = self.service_time(req)
            self._free1 = dep = start + svc
        else:
            heap = self._heap
            f = heap[0]
            start = f if f > now else now
            self._t = start
            req.result = self.execute(req)
            svc = self.service_time(req)
            dep = start + svc
            heapq.heapreplace(heap, dep)
        self.ops += 1
        self.busy += svc
        self.wait_sum += start - now
        if back is None:
            lost(world, req)
            return
        req.s_dep = dep
        req.pidx = self._npauses
        if req.done:
            return  # no reply will be sent, so the request never counts as in flight
        self.inflight[req] = None
        # core.push, inlined
        t = dep + back
        env = self.env
        eid = next(env._eid)
        heapq.heappush(env._queue, (t, 1, eid, self._reply, req))
        req.ev = eid
        if not req.tmo and t > req.deadline:
            arm_timeout(world, req)

    def _serve(self, req: Request, back: float | None) -> Any:
        """The event-by-event version of :meth:`on_arrive` (one SimPy process per command)."""
        assert self._res is not None
        arrival = self.env.now
        with self._res.request() as slot:
            yield slot
            self._t = start = self.env.now
            result = self.execute(req)
            svc = self.service_time(req)
            self.ops += 1
            self.busy += svc
            self.wait_sum += start - arrival
            yield self.env.timeout(svc)
        if back is None or req.done:
            if back is None:
                lost(self.world, req)
            return
        req.result = result
        req.s_dep = self.env.now
        req.pidx = len(self.pauses)
        self.inflight[req] = None
        push(self.world, req, self.env._now + back, self._reply)

    def _reply(self, req: Request, tok: Any) -> None:
        """Queue callback: the reply reaches the caller; apply pauses that began while it was in service."""
        if tok is not req.ev:
            if req.done:
                # the caller gave up (timeout) while the command was here: the server is through with it now
                self.inflight.pop(req, None)
            return
        if req.pidx < self._npauses:
            pauses = self.pauses
            shift = 0.0
            for ps, d in pauses[req.pidx:]:
                if ps < req.s_dep + shift:
                    shift += d
            req.pidx = len(pauses)
            if shift > 0.0:
                req.s_dep += shift
                push(self.world, req, self.env._now + shift, self._reply)
                return
        self.inflight.pop(req, None)
        # core.complete, inlined
        if req.pool is not None:
            req.pool.release(req)
        req.k(req)  # type: ignore[misc]

    def _error_back(self, req: Request, err: str) -> None:
        back = self.world.network.delay(self.node, req.src)
        if back is None:
            lost(self.world, req)
            return
        req.err = err
        push(self.world, req, self.env._now + back, deliver_call)

    # ---------------------------------------------------------- failure seam
    def crash(self) -> None:
        """Crash now: commands in flight fail (``reset``), new ones are refused until :meth:`restart`."""
        if not self.up:
            return
        self.up = False
        self.crashes += 1
        self.world.recorder.count(self.name, "crashes", self.env.now)
        for req in list(self.inflight):
            self.reset += 1
            self._error_back(req, "reset")
        self.inflight.clear()
        now = self.env.now
        self._free1 = now
        self._heap = [now] * self.workers
        self.on_crash()

    def restart(self, warm: bool = False) -> None:
        """Come back up; ``warm`` keeps the state held at the crash (e.g. reloaded from disk)."""
        if self.up:
            return
        self.up = True
        self.world.recorder.count(self.name, "restarts", self.env.now)
        self.on_restart(warm)

    def pause(self, duration: float) -> None:
        """Stop every worker for ``duration`` seconds from now (a GC or fork pause)."""
        if duration <= 0:
            raise UsageError(f"{self.name}: pause duration must be > 0, got {duration}")
        if self._res is not None:
            raise UsageError(f"{self.name}: pause is modelled with queueing='lindley' only")
        now = self.env.now
        start = max(now, self.paused_until)
        self.pauses.append((start, duration))
        self._npauses = len(self.pauses)
        self.paused_until = start + duration
        self._free1 = max(self._free1, start) + duration
        self._heap = sorted(max(f, start) + duration for f in self._heap)
        self.world.recorder.count(self.name, "pauses", now)

    def on_crash(self) -> None:
        """Hook: what a crash loses (subclasses)."""

    def on_restart(self, warm: bool) -> None:
        """Hook: what a restart rebuilds (subclasses)."""


class CacheServer(Server):
    """A networked cache node: ``get``/``set``/``del``/``mget`` on a :class:`~simcache.store.Cache`.

    Args:
        world: the simulation world.
        name: component name.
        node: network node.
        policy: eviction policy name.
        capacity: entries (or bytes).
        profile: "redis" (one event loop: ``workers`` forced to 1) or "memcached" (``workers`` threads).
        service: service time of one command.
        workers: worker threads (memcached profile).
        default_ttl: TTL applied to sets without one.
        queueing: see :class:`Server`.
    """

    GAUGES = Server.GAUGES + ("keys", "memory_usage")

    def __init__(self, world: World, name: str, node: str, policy: str = "lru", capacity: int = 10_000,
                 profile: Literal["redis", "memcached"] = "redis", service: Dist | str | float = "exp:0.0001",
                 workers: int = 4, default_ttl: float | None = None, queueing: Queueing = "lindley",
                 active_expiry: bool = False) -> None:
        if profile not in ("redis", "memcached"):
            raise UsageError(f"{name}: profile must be 'redis' or 'memcached', got {profile!r}")
        super().__init__(world, name, node, service, 1 if profile == "redis" else workers, queueing)
        self.profile = profile
        self.store = Cache(policy, capacity, clock=self.clock, default_ttl=default_ttl,
                           rng=world.rng(f"{name}:store"), active_expiry=active_expiry)
        self._snapshot: Any = None
        self.write_behind: Any = None  # a WriteBehindQueue living on this node, if any
        # the dense arrival below serves GET/SET on one Lindley worker with a flat LRU store; else Server's
        self._dense = type(self) is CacheServer and self.workers == 1 and queueing == "lindley" and flat(self.store)

    def on_arrive(self, req: Request, tok: Any) -> None:
        """:meth:`Server.on_arrive` for GET and SET, flattened: the same draws, state changes and schedule."""
        op = req.opcode
        if not self._dense or (op != "get" and op != "set") or not self.up:
            Server.on_arrive(self, req, tok)
            return
        lk = self._links.get((self.node, req.src))
        if tok is not req.ev or lk is None or not lk.plain or not lk.up:
            Server.on_arrive(self, req, tok)
            return
        buf = lk.buf
        back = buf.pop() if buf else lk.refill()
        env = self.env
        now = env._now
        start = self._free1 if self._free1 > now else now
        self._t = start
        store = self.store
        if op == "get":
            # fastlru.lru_get, inlined
            key = req.key
            e = store._entries.get(key)
            if e is not None and e.expire_at is not None and e.expire_at <= start:
                store._expire(key)
                e = None
            st = store.stats
            if e is None:
                st.misses += 1
                req.result = None
            else:
                # self._dense implies flat(store): the policy is exactly LRU, which mypy cannot see
                # through the stored flag, and a cast or check would cost on every hit
                store.policy._order.move_to_end(key)  # type: ignore[attr-defined]
                st.hits += 1
                st.byte_hits += e.size
                req.result = (e.value, e.version, e.expire_at)
        else:
            req.result = lru_set(store, req.key, req.wid, req.size, req.ttl, req.version, start)
        sb = self._svcb.buf
        svc = sb.pop() if sb else self._svcb.refill()
        self._free1 = dep = start + svc
        self.ops += 1
        self.busy += svc
        self.wait_sum += start - now
        req.s_dep = dep
        req.pidx = self._npauses
        if req.done:
            return  # no reply will be sent, so the request never counts as in flight
        self.inflight[req] = None
        t = dep + back
        eid = next(env._eid)
        heapq.heappush(env._queue, (t, 1, eid, self._reply, req))
        req.ev = eid
        if not req.tmo and t > req.deadline:
            arm_timeout(self.world, req)

    def counters(self) -> dict[str, float]:
        d = super().counters()
        s = self.store.stats
        d.update(hits=s.hits, misses=s.misses, evictions=s.evictions, expired=s.expired, sets=s.sets,
                 deletes=s.deletes, refused_writes=s.refused, keys=len(self.store),
                 memory_usage=self.store.used / self.store.capacity)
        return d

    def execute(self, req: Request) -> Any:
        op = req.opcode
        store = self.store
        if op == "get":
            e = lru_get(store, req.key, self._t)
            # copy: a later set on this key must not change what this reply carries
            return None if e is None else (e.value, e.version, e.expire_at)
        if op == "set":
            return lru_set(store, req.key, req.wid, req.size, req.ttl, req.version, self._t)
        if op == "del":
            return store.delete(req.key)
        if op == "mget":
            out = []
            for key in req.items:
                e = store.get(key)
                out.append(None if e is None else (e.value, e.version, e.expire_at))
            return out
        raise UsageError(f"{self.name}: unknown command {op!r}")

    def service_time(self, req: Request) -> float:
        if req.opcode == "mget":
            return sum(self._svc() for _ in req.items)
        return self._svc()

    def on_crash(self) -> None:
        # memory is gone; a warm restart reloads what was persisted at the crash (RDB/AOF)
        self._snapshot = dict(self.store._entries)
        self.store.clear()
        if self.write_behind is not None:
            self.write_behind.node_crashed()

    def on_restart(self, warm: bool) -> None:
        if warm and self._snapshot:
            for key, e in self._snapshot.items():
                if e.expire_at is None or e.expire_at > self.env.now:
                    ttl = None if e.expire_at is None else e.expire_at - self.env.now
                    self._t = self.env.now
                    self.store.set(key, e.value, e.size, ttl=ttl, version=e.version)
        self._snapshot = None
        if self.write_behind is not None:
            self.write_behind.node_restarted()


class InProcessCache:
    """An in-process cache (no network hop, no queue): a store read at the caller's own time.

    Args:
        world: the simulation world.
        name: component name.
        policy: eviction policy name.
        capacity: entries (or bytes).
        default_ttl: TTL for fills without one.
        service: time one lookup costs the caller.
    """

    def __init__(self, world: World, name: str, policy: str = "lru", capacity: int = 1000,
                 default_ttl: float | None = None, service: Dist | str | float = 0.0) -> None:
        self.world = world
        self.name = name
        env = world.env
        self.store = Cache(policy, capacity, clock=lambda: env._now, default_ttl=default_ttl,
                           rng=world.rng(f"{name}:store"))
        self.service = Dist.parse(service)
        self.cost = self.service.sampler(world.rng(name))
        world.recorder.watch(name, self.counters, gauges=("keys", "memory_usage"))

    def counters(self) -> dict[str, float]:
        s = self.store.stats
        return {"hits": s.hits, "misses": s.misses, "evictions": s.evictions, "expired": s.expired,
                "sets": s.sets, "deletes": s.deletes, "keys": len(self.store),
                "memory_usage": self.store.used / self.store.capacity}

    def crash(self) -> None:
        """The process died: the cache is empty when it comes back."""
        self.store.clear()
