"""Tier chains: browser caches -> caching proxies (CDN, load balancer) -> an app -> its caches and database.

A request is one SimPy process that walks down the chain.  Every tier has
the same entry point as :meth:`App.serve <simcache.sim.app.App.serve>`::

    answer, served_by = yield from tier.serve(src_node, op, key, value)

which carries the request from ``src_node`` to the tier's node (one network
delay), does the tier's work, and carries the answer back.  A read stops at
the first tier that holds the key; the answer fills every cache it passes on
the way back up, each with its own TTL (each tier counts its TTL from its
own fill; ``Age`` headers are not modelled).  A write passes down to the
app, whose strategy commits it at the database, and on its way back up
deletes the key from the proxies built with ``invalidate=True``.

The tiers:

* :class:`Browsers` — ``copies`` independent small caches on the clients'
  own node (one per user's browser).  An open-loop request is given a
  browser uniformly at random, which splits a Poisson stream into ``copies``
  Poisson streams of ``rate / copies`` each: a population of clients.  A
  browser lookup costs ``lookup`` seconds, without queueing.  A browser is
  never invalidated: after a write it serves its copy until its max-age.
* :class:`ProxyCache` — a caching reverse proxy (a CDN edge, a load
  balancer's micro-cache): a :class:`~simcache.sim.server.Server` whose
  command table is ``GET`` (a lookup, one ``service`` draw), ``SET`` (a fill)
  and ``DEL`` (a purge) over a :class:`~simcache.store.Cache`, served FIFO by
  ``workers`` workers.  Fills and purges ride along with a passing response:
  the event loop that passes the answer on stores or drops the key, without a
  worker and without service time (``SET`` and ``DEL`` do the same for
  callers from outside, e.g. a purge request).  A CDN is built with
  ``invalidate=False`` (the origin cannot reach it); a load balancer may
  purge on writes.
* the app tier is an :class:`~simcache.sim.app.App` (its near cache, then its
  strategy over Redis and the database).

Failures follow the contract of :mod:`simcache.sim.server`: a proxy that is
down refuses a request (or, with its host down, never answers); a pause
queues lookups and holds answers passing through; a crash resets the
requests at the proxy (queued, in service, or waiting for the tier below)
one network delay later, while what it already forwarded goes on below — a
write it passed on still commits.  To keep that exact, a proxy hands the
tier below its own process (:meth:`ProxyCache.forward`), so that abandoning
the wait never interrupts the work below.

Which tier answered a read is returned with the answer; the client judges
the value against the oracle (:mod:`simcache.sim.clients`) and records it
under that tier's name (``reads_served``, ``stale_reads``,
``concurrent_reads``).  Hits, misses and keys of each tier are scraped
counters, so the warmup applies to them like to every other metric.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, Protocol

import simpy

from simcache.errors import UsageError
from simcache.policies.base import policy_names
from simcache.sim.component import pause_gate
from simcache.sim.dists import Dist
from simcache.sim.network import MessageLost
from simcache.sim.oracle import Value
from simcache.sim.report import tier_summary
from simcache.sim.rpc import Call, ConnectionError, RemoteError, call
from simcache.sim.server import Queueing, Server, command, size_of
from simcache.sim.world import World
from simcache.store import Cache

Gen = Generator[simpy.Event, Any, Any]
#: what each kind of tier is, for reports and figures
KINDS = ("browser", "cdn", "lb", "app", "distributed", "database")


class Tier(Protocol):
    """Anything a request can be carried to: an :class:`~simcache.sim.app.App`, a proxy, the browsers."""

    node: str

    def serve(self, src: str, op: str, key: Any, value: Any = None) -> Gen:
        """Carry a request from node ``src`` here, run it, carry back ``(answer, served_by)``."""
        ...


def _settled(gen: Gen) -> Gen:
    """Run ``gen`` to its end and return ``(True, value)`` or ``(False, exception)``, never raising.

    The process of the tier below is waited for by a process that may stop waiting (a crash); an
    exception nobody waits for any more must not end the simulation.
    """
    try:
        return True, (yield from gen)
    except Exception as err:  # noqa: BLE001 - handed to the waiting tier, which re-raises it
        return False, err


def check_ttl(owner: str, field: str, ttl: float | None) -> None:
    """A TTL is a number of seconds > 0, or None (no expiry); raise one line naming ``field`` otherwise."""
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0
                            or ttl == float("inf")):
        raise UsageError(f"{owner}: {field} must be a number of seconds > 0 or None (no expiry), got {ttl!r}")


def check_policy(owner: str, field: str, policy: str) -> None:
    """An eviction policy of the registry; raise one line naming ``field`` and the valid names otherwise."""
    if policy not in policy_names():
        raise UsageError(f"{owner}: {field} must be one of {', '.join(policy_names())}, got {policy!r}")


def check_count(owner: str, field: str, n: int, minimum: int = 0) -> None:
    """An integer >= ``minimum``; raise one line naming ``field`` otherwise."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise UsageError(f"{owner}: {field} must be an integer >= {minimum}, got {n!r}")


class Browsers:
    """``copies`` per-client browser caches on the clients' node, in front of ``next_tier``.

    Args:
        world: the simulation world.
        name: the tier's name (metrics, random streams, the ``served_by`` of its hits).
        node: the clients' node (the browsers run there).
        next_tier: where a miss goes (usually the CDN).
        copies: independent browser caches.
        capacity: entries per browser cache (0: no browser cache).
        ttl: max-age of a fill in seconds (None: until evicted).
        policy: eviction policy of each browser cache.
        lookup: time of one browser-cache lookup.
    """

    def __init__(self, world: World, name: str, node: str, next_tier: Tier, copies: int = 1, capacity: int = 50,
                 ttl: float | None = 60.0, policy: str = "lru", lookup: Dist | str | float = "const:0.00005") -> None:
        check_count(name, "copies", copies, 1)
        check_count(name, "capacity", capacity)
        check_ttl(name, "ttl", ttl)
        check_policy(name, "policy", policy)
        self.world = world
        self.env = world.env
        self.name = name
        self.node = world.network.add_node(node, "client")
        self.next = next_tier
        self.copies = copies
        self.capacity = capacity
        self.ttl = ttl
        self.policy = policy
        self.lookup = Dist.parse(lookup)
        self._lookup = self.lookup.sampler(world.rng(f"{name}:lookup"))
        self._route = world.rng(f"{name}:route")
        self._store_rng = world.rng(f"{name}:store")
        self._buf: list[int] = []
        self.caches: dict[int, Cache] = {}
        self.hits = 0
        self.misses = 0
        world.recorder.watch(name, self.counters, gauges=("keys",))

    def counters(self) -> dict[str, float]:
        """Hits and misses summed over every browser, and the keys they hold."""
        return {"hits": self.hits, "misses": self.misses, "keys": sum(len(c) for c in self.caches.values())}

    def cache_of(self, browser: int) -> Cache:
        """Browser ``browser``'s cache (made on first use)."""
        c = self.caches.get(browser)
        if c is None:
            env = self.env
            c = self.caches[browser] = Cache(self.policy, self.capacity, clock=lambda: env.now, rng=self._store_rng)
        return c

    def _pick(self) -> int:
        if self.copies == 1:
            return 0
        if not self._buf:
            self._buf = self._route.integers(0, self.copies, 4096).tolist()
        return self._buf.pop()

    def serve(self, src: str, op: str, key: Any, value: Any = None) -> Gen:
        """A request from the clients: a read looks in one browser's cache first and fills it from the answer."""
        if op != "read" or self.capacity == 0:
            return (yield from self.next.serve(self.node, op, key, value))
        cache = self.cache_of(self._pick())
        cost = self._lookup()
        if cost > 0:
            yield self.env.timeout(cost)
        e = cache.get_entry(key)
        if e is not None:
            self.hits += 1
            return e.value, self.name
        self.misses += 1
        answer, served = yield from self.next.serve(self.node, op, key, value)
        if isinstance(answer, Value):
            cache.set(key, answer, ttl=self.ttl)
        return answer, served


class ProxyCache(Server):
    """A caching reverse proxy in front of ``next_tier`` (a CDN edge, a load balancer's micro-cache).

    Args:
        world: the simulation world.
        name: component name (also its node unless ``node`` is given; a fault target).
        next_tier: where misses and writes go.
        capacity: entries of its cache (0: no cache, the proxy only forwards).
        ttl: seconds a fill stays (None: until evicted).
        policy: eviction policy.
        service: service time of one lookup.
        workers: lookups served in parallel.
        invalidate: purge the key when a write's answer passes back (a CDN cannot be purged by the origin).
        node: network node.
        queueing: ``"fast"`` or ``"events"`` (see :mod:`simcache.sim.server`).
    """

    GAUGES = ("up", "queued", "busy_workers", "keys", "active")

    def __init__(self, world: World, name: str, next_tier: Tier, capacity: int = 1000, ttl: float | None = 30.0,
                 policy: str = "lru", service: Dist | str | float = "exp:0.0005", workers: int = 16,
                 invalidate: bool = False, node: str | None = None, queueing: Queueing = "fast") -> None:
        check_count(name, "capacity", capacity)
        check_ttl(name, "ttl", ttl)
        check_policy(name, "policy", policy)
        super().__init__(world, name, node, service, workers, queueing)
        self.next = next_tier
        self.ttl = ttl
        self.invalidate = bool(invalidate)
        env = self.env
        self.cache: Cache | None = (Cache(policy, capacity, clock=lambda: env.now, rng=world.rng(f"{name}:store"))
                                    if capacity > 0 else None)
        #: request processes at this proxy (interrupted by a crash), and those inside one of its own commands
        self.active: dict[simpy.Process, None] = {}
        self._calling: set[simpy.Process] = set()
        self.reads = 0
        self.writes = 0
        self.purges = 0
        self.watch()

    # ------------------------------------------------------------ metrics
    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(reads=self.reads, writes=self.writes, purges=self.purges, active=float(len(self.active)))
        if self.cache is not None:
            st = self.cache.stats
            d.update(hits=st.hits, misses=st.misses, evictions=st.evictions, expired=st.expired, keys=len(self.cache))
        return d

    # ----------------------------------------------------------- commands
    @command("GET")
    def _get(self, key: Any) -> Any:
        assert self.cache is not None
        e = self.cache.get_entry(key)
        return None if e is None else e.value

    @command("SET")
    def _set(self, key: Any, value: Any) -> str:
        assert self.cache is not None
        self.cache.set(key, value, ttl=self.ttl)
        return "OK"

    @command("DEL")
    def _del(self, key: Any) -> int:
        assert self.cache is not None
        return int(self.cache.delete(key))

    def service_time(self, call: Call) -> float:
        # a lookup costs a service draw; storing or dropping a key costs nothing next to it
        cmd = call.cmd
        return self._svc() if cmd[0] == "GET" else 0.0

    def reset_state(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    # ------------------------------------------------------------ requests
    def serve(self, src: str, op: str, key: Any, value: Any = None) -> Gen:
        """Carry a request from node ``src`` to this proxy, run it, and carry ``(answer, served_by)`` back.

        Raises :class:`~simcache.sim.network.MessageLost` when the request or its answer is lost (the client
        learns of it by its timeout), :class:`~simcache.sim.rpc.ConnectionError` when the proxy is down
        (refused) or crashes while it holds the request (reset), and whatever the tiers below raised.
        """
        world = self.world
        yield from world.network.hop(src, self.node, size_of(value))
        if not self.up:
            if not self.host_up:
                raise MessageLost
            self.refused += 1
            yield from world.network.hop(self.node, src)
            raise ConnectionError("Connection refused")
        proc = self.env.active_process
        assert proc is not None
        self.active[proc] = None
        epoch = self.epoch
        answer: Any = None
        served = ""
        failure: RemoteError | None = None
        try:
            answer, served = yield from self._run(op, key, value, epoch)
        except simpy.Interrupt:
            if not self.host_up:
                raise MessageLost from None
            self.resets += 1
            failure = ConnectionError("Connection reset by peer")
        except RemoteError as err:
            failure = err  # a reset of our own command, or an error from below: it travels back up
        finally:
            self.active.pop(proc, None)
        yield from world.network.hop(self.node, src, size_of(answer))
        if failure is not None:
            raise failure
        return answer, served

    def _run(self, op: str, key: Any, value: Any, epoch: int) -> Gen:
        cache = self.cache
        if op == "read":
            self.reads += 1
            if cache is not None:
                hit = yield from self._lookup(key, epoch)
                if hit is not None:
                    return hit, self.name
            answer, served = yield from self._passing(op, key, value, epoch)
            if cache is not None and isinstance(answer, Value):
                cache.set(key, answer, ttl=self.ttl)
            return answer, served
        if op == "write":
            self.writes += 1
            answer, _ = yield from self._passing(op, key, value, epoch)
            # after the commit: a purge before it could be refilled with the old value at once
            if cache is not None and self.invalidate and cache.delete(key):
                self.purges += 1
            return answer, ""
        raise UsageError(f"{self.name}: unknown operation {op!r} (expected read or write)")

    def _lookup(self, key: Any, epoch: int) -> Gen:
        """A GET through the command table: queued FIFO for a worker, with its service time."""
        proc = self.env.active_process
        assert proc is not None
        self._calling.add(proc)
        try:
            reply = yield from call(self.world, self.node, self, ("GET", key))
        finally:
            self._calling.discard(proc)
        self._alive(epoch)
        return reply

    def _passing(self, op: str, key: Any, value: Any, epoch: int) -> Gen:
        """Forward the request below, then hold its answer through a pause (the proxy must be working to pass
        it on); the fill or purge that follows is done by the event loop that passes it, without a worker."""
        if self.env.now < self.paused_until:
            yield from pause_gate(self)
        answer = yield from self.forward(op, key, value)
        if self.env.now < self.paused_until:
            yield from pause_gate(self)
        self._alive(epoch)
        return answer

    def _alive(self, epoch: int) -> None:
        """Raise when the proxy crashed since ``epoch`` (a request caught at the very instant of a crash)."""
        if self.epoch != epoch:
            if not self.host_up:
                raise MessageLost
            self.resets += 1
            raise ConnectionError("Connection reset by peer")

    def forward(self, op: str, key: Any, value: Any) -> Gen:
        """Pass the request to the tier below and wait for its answer.

        The tier below runs in a process of its own: when this proxy crashes it stops waiting, and what it
        forwarded goes on below (a write still commits), as when a real proxy's worker dies.
        """
        below = self.env.process(_settled(self.next.serve(self.node, op, key, value)))
        ok, result = yield below
        if not ok:
            raise result
        return result

    # -------------------------------------------------------------- faults
    def on_crash(self) -> None:
        calling = set(self._calling)
        # the server half: queued and in-service commands are voided (their carriers reset when the host is up)
        super().on_crash()
        for proc in list(self.active):
            # with the host up, a request inside one of our commands hears of the crash from the server half;
            # every other one (waiting for the tier below, or with the host down) is interrupted here
            if proc.is_alive and (not self.host_up or proc not in calling):
                proc.interrupt("crash")


def tier_table(world: World, duration: float, kinds: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per tier, over the measured span: kind, hit ratio, lookups, load (reads reaching it per second), reads
    it served and how many of those were stale, concurrent or dirty.

    Args:
        world: the world the chain ran in.
        duration: the run's simulated length (the warmup is taken off).
        kinds: tier name -> kind (one of :data:`KINDS`), top to bottom.
    """
    rec = world.recorder
    span = max(duration - rec.warmup, 1e-12)
    out: dict[str, dict[str, Any]] = {}
    for name, kind in kinds.items():
        d: dict[str, Any] = {"kind": kind, **tier_summary(world, name)}
        if kind == "database":
            reads = int(rec.delta(name).get("reads", 0))
            d["lookups"] = reads
        else:
            reads = int(d.get("lookups", rec.delta(name).get("reads", 0)))
        d["load_per_s"] = reads / span
        for k in ("reads_served", "stale_reads", "concurrent_reads", "dirty_reads"):
            d.setdefault(k, 0)
        out[name] = d
    return out
