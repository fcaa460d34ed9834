"""Declarative tier chains: browser -> CDN -> load balancer -> app cache -> distributed cache -> database.

A chain is a list of :class:`TierSpec` ending with the database.  A read walks
down the chain, tier by tier, until a tier holds the key (the database always
answers); the response then walks back up the same way and fills every tier it
passes, each with its own TTL (browser max-age, CDN TTL, app TTL, distributed
cache TTL).  A write walks down to the database without lookups, commits, and
on the way back up deletes the key from the tiers that can be invalidated by
the server (load balancer, app, distributed cache: ``invalidate=True``).  A
browser or a CDN cannot be invalidated by the origin: after a write they serve
their copy until its max-age runs out, which is the flaw of the seed's
hierarchy (and of the real web).

Timing: every tier except the browser is a FIFO server (a
:class:`~simcache.sim.servers.CacheServer` with Lindley queueing) on its own
network node; a lookup costs one service time there, and the hop to the next
tier is a network link whose one-way latency is the tier's ``hop``.  The fill
on the way back and the passage of writes through cache tiers cost no service
time.  The browser sits on the client's own node and costs ``service`` per
lookup, without queueing.

A population of browsers is modelled as ``copies`` independent small caches:
a request from closed-loop user ``u`` uses browser ``u % copies``; an
open-loop request (no user) is assigned a browser uniformly at random, which
splits a Poisson stream into ``copies`` independent Poisson streams, as for
``copies`` clients each sending at ``rate / copies``.

Per-tier metrics go to the world's recorder under the tier's name: reads
reaching the tier (``requests``), ``hits``, ``misses``, ``time`` (time spent
at and below the tier, from the request's arrival at the tier to the
response leaving it), ``writes`` passing through and ``invalidations``; the
served tier of each read gets ``reads_served`` / ``stale_reads`` from
:meth:`~simcache.sim.metrics.Recorder.read_served`, judged when the response
reaches the client.  Only reads entering the chain after the warmup count, so
reads reaching tier k+1 equal misses at tier k exactly when nothing is lost or
times out in flight.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from simcache.errors import UsageError
from simcache.policies.base import policy_names
from simcache.sim.core import Request, lost, schedule
from simcache.sim.database import Database
from simcache.sim.dists import Dist
from simcache.sim.network import Network
from simcache.sim.servers import CacheServer
from simcache.sim.world import World
from simcache.store import Cache

KINDS = ("browser", "cdn", "lb", "app", "distributed", "database")
PROFILES = ("redis", "memcached")
#: kinds whose copies the origin can delete (the browser and the CDN serve until max-age)
INVALIDATABLE = ("lb", "app", "distributed")
#: kinds invalidated on writes unless told otherwise
_INVALIDATE_BY_DEFAULT = ("app", "distributed")


@dataclass(frozen=True)
class TierSpec:
    """One tier of a chain.

    Args:
        name: tier (and network node) name, unique in the chain.
        kind: browser, cdn, lb, app, distributed or database.
        policy: eviction policy of the tier's cache (a registry name).
        capacity: entries per cache (0: no cache, the tier only forwards); database: query-cache entries.
        ttl: seconds a fill stays fresh (browser: max-age); None: until evicted.  Not for the database.
        hop: one-way latency to the next tier (a distribution, e.g. "lognormal:0.02,0.3").
        service: service time of one lookup (database: of one read).
        workers: parallel workers of the tier's server (database: connections; ignored for a browser).
        profile: distributed only: "redis" (one event loop) or "memcached" (``workers`` threads).
        copies: browser only: number of independent per-client caches.
        invalidate: delete the key on writes (lb, app, distributed only); None: yes for app and distributed.
        write_service: database only: service time of a write.
    """

    name: str
    kind: str
    policy: str = "lru"
    capacity: int = 0
    ttl: float | None = None
    hop: Dist | str | float = "const:0"
    service: Dist | str | float = "const:0"
    workers: int = 1
    profile: str = "memcached"
    copies: int = 1
    invalidate: bool | None = None
    write_service: Dist | str | float = "exp:0.004"
    _dists: dict[str, Dist] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        who = f"tier {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise UsageError(f"tier name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise UsageError(f"{who}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.policy not in policy_names():
            raise UsageError(f"{who}: policy must be one of {', '.join(policy_names())}, got {self.policy!r}")
        if isinstance(self.capacity, bool) or int(self.capacity) != self.capacity or self.capacity < 0:
            raise UsageError(f"{who}: capacity must be an integer >= 0 (entries; 0: no cache), got {self.capacity!r}")
        if self.ttl is not None:
            if self.kind == "database":
                raise UsageError(f"{who}: ttl must be None for the database (its query cache is invalidated on "
                                 f"writes), got {self.ttl!r}")
            if not (isinstance(self.ttl, int | float) and math.isfinite(self.ttl) and self.ttl > 0):
                raise UsageError(f"{who}: ttl must be a number of seconds > 0 or None, got {self.ttl!r}")
        for f in ("hop", "service", "write_service"):
            try:
                self._dists[f] = Dist.parse(getattr(self, f))
            except UsageError as err:
                raise UsageError(f"{who}: {f}: {err}") from None
        if self.kind == "database" and self._dists["hop"].mean() != 0:
            raise UsageError(f"{who}: hop must be 0 for the database (it is the last tier), got {self.hop!r}")
        if isinstance(self.workers, bool) or int(self.workers) != self.workers or self.workers < 1:
            raise UsageError(f"{who}: workers must be an integer >= 1, got {self.workers!r}")
        if self.profile not in PROFILES:
            raise UsageError(f"{who}: profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if isinstance(self.copies, bool) or int(self.copies) != self.copies or self.copies < 1:
            raise UsageError(f"{who}: copies must be an integer >= 1, got {self.copies!r}")
        if self.copies > 1 and self.kind != "browser":
            raise UsageError(f"{who}: copies > 1 is supported for kind 'browser' only, got kind {self.kind!r}")
        if self.invalidate and self.kind not in INVALIDATABLE:
            raise UsageError(f"{who}: invalidate=True needs kind {', '.join(INVALIDATABLE)}; a {self.kind} "
                             "cache cannot be invalidated by the server (it serves until its TTL/max-age)")

    @property
    def hop_dist(self) -> Dist:
        return self._dists["hop"]

    @property
    def service_dist(self) -> Dist:
        return self._dists["service"]

    @property
    def write_dist(self) -> Dist:
        return self._dists["write_service"]

    @property
    def invalidates(self) -> bool:
        """Whether writes delete the key from this tier."""
        if self.invalidate is None:
            return self.kind in _INVALIDATE_BY_DEFAULT
        return bool(self.invalidate)

    @property
    def caches(self) -> bool:
        """Whether the tier holds anything (the database always answers)."""
        return self.kind != "database" and self.capacity > 0


class TierServer(CacheServer):
    """A cache tier's server: lookups queue FIFO; fills and invalidations from passing responses are free."""

    def __init__(self, world: World, spec: TierSpec, queueing: str = "lindley") -> None:
        profile = spec.profile if spec.kind == "distributed" else "memcached"
        super().__init__(world, spec.name, spec.name, spec.policy, max(spec.capacity, 1), profile,  # type: ignore[arg-type]
                         spec.service_dist, spec.workers, queueing=queueing)  # type: ignore[arg-type]
        self.spec = spec
        self.passthrough = spec.capacity == 0

    def execute(self, req: Request) -> Any:
        if self.passthrough and req.opcode == "get":
            return None
        return super().execute(req)

    def fill(self, key: Any, wid: int, size: int, version: int) -> None:
        """Store the value a response carries past this tier now (with the tier's TTL)."""
        if self.passthrough or not self.up:
            return
        self._t = self.env.now  # the store's clock is the server's: a fill happens now
        self.store.set(key, wid, size, ttl=self.spec.ttl, version=version)

    def invalidate(self, key: Any) -> bool:
        """Delete ``key`` (a write passed by); return whether it was cached."""
        if self.passthrough or not self.up:
            return False
        return self.store.delete(key)


class _Trip:
    """Where one read is in the chain: arrival time at each tier, whether it counts, its browser cache."""

    __slots__ = ("arr", "count", "browser", "served")

    def __init__(self, n: int, count: bool) -> None:
        self.arr = [0.0] * n
        self.count = count
        self.browser: Cache | None = None
        self.served = -1


class TierChain:
    """A chain of tiers in front of a database; it is the "app" clients send requests to.

    Args:
        world: the simulation world (a :class:`~simcache.sim.network.Network` is created if it has none).
        specs: the tiers, nearest the client first, ending with one ``kind="database"`` spec named ``db.name``.
        db: the database (the last tier).
        name: component name (random stream, metrics of the chain itself).
        queueing: "lindley" or "events" for the tiers' servers.
    """

    def __init__(self, world: World, specs: Sequence[TierSpec], db: Database, name: str = "chain",
                 queueing: str = "lindley") -> None:
        validate_chain(specs)
        if specs[-1].name != db.name:
            raise UsageError(f"tier chain: the database tier is named {specs[-1].name!r} but the database is "
                             f"{db.name!r}; name them the same")
        self.world = world
        self.env = world.env
        self.rec = world.recorder
        self.name = name
        self.specs = list(specs)
        self.db = db
        self.n = len(self.specs)
        self.names = [s.name for s in self.specs]
        self.has_browser = self.specs[0].kind == "browser"
        net = world.network if world.network is not None else Network(world)
        self.nodes = [s.name for s in self.specs[:-1]] + [db.node]
        for i, s in enumerate(self.specs):
            net.add_node(self.nodes[i], s.kind)
        for i, s in enumerate(self.specs[:-1]):
            net.add_link(self.nodes[i], self.nodes[i + 1], s.hop_dist)
        self.net = net
        #: the node clients send to (a browser tier sits on the clients' own node)
        self.node = self.nodes[0]
        self.servers: list[Any] = []
        for s in self.specs[:-1]:
            self.servers.append(None if s.kind == "browser" else TierServer(world, s, queueing))
        self.servers.append(db)
        self.browsers: dict[int, Cache] = {}
        if self.has_browser:
            b = self.specs[0]
            self._browser_cost = b.service_dist.sampler(world.rng(f"{b.name}:lookup"))
            self._browser_rng = world.rng(f"{b.name}:store")
            self._route = world.rng(f"{name}:route")
            self._route_buf: list[int] = []
            self._bstats = [0, 0]  # hits, misses over all browsers
            world.recorder.watch(b.name, self._browser_counters, gauges=("keys",))
        self._invalidating = [s.invalidates and s.caches for s in self.specs]
        self._arrive_cb = [self._make(self._arrive, k) for k in range(self.n)]
        self._got_cb = [self._make_k(self._looked_up, k) for k in range(self.n)]
        self._back_cb = [self._make(self._back, k) for k in range(self.n)]
        self._wup_cb = [self._make(self._write_up, k) for k in range(self.n)]
        self._wids = 0
        self._crc = zlib.crc32(name.encode()) & 1023
        #: per finished read: (latency at tier 0, index of the tier that served it); None: not kept
        self.trace: list[tuple[float, int]] | None = None
        self.reads = 0
        self.writes = 0

    # ----------------------------------------------------------- plumbing
    @staticmethod
    def _make(fn: Callable[[Any, int], None], k: int) -> Callable[[Any], None]:
        return lambda ev: fn(ev, k)

    @staticmethod
    def _make_k(fn: Callable[[Request, int], None], k: int) -> Callable[[Request], None]:
        return lambda req: fn(req, k)

    def _browser_counters(self) -> dict[str, float]:
        return {"hits": self._bstats[0], "misses": self._bstats[1], "keys": sum(len(c) for c in self.browsers.values())}

    def _browser_of(self, req: Request) -> Cache:
        b = self.specs[0]
        if req.user >= 0:
            uid = req.user % b.copies
        else:
            if not self._route_buf:
                self._route_buf = self._route.integers(0, b.copies, 4096).tolist()
            uid = self._route_buf.pop()
        c = self.browsers.get(uid)
        if c is None:
            env = self.env
            c = self.browsers[uid] = Cache(b.policy, b.capacity, clock=lambda: env._now, rng=self._browser_rng)
        return c

    def _count(self, tier: int, metric: str, n: float = 1.0) -> None:
        self.rec.count(self.names[tier], metric, self.env._now, n)

    # --------------------------------------------------------------- entry
    def handle(self, req: Request) -> None:
        """A client request reaches tier 0's node."""
        if req.op == "read":
            self._read(req)
        else:
            self._write(req)

    def _read(self, req: Request) -> None:
        now = self.env._now
        trip = _Trip(self.n, now >= self.rec.warmup)
        req.path = trip
        self.reads += 1
        if not self.has_browser:
            self._send(req, 0, 0.0)
            return
        trip.arr[0] = now
        if trip.count:
            self._count(0, "requests")
        cost = self._browser_cost()
        b = self.specs[0]
        if b.capacity == 0:
            e = None
        else:
            cache = trip.browser = self._browser_of(req)
            e = cache.get(req.key)
        if e is not None:
            self._bstats[0] += 1
            if trip.count:
                self._count(0, "hits")
                self.rec.totals[(self.names[0], "time")] += cost
            trip.served = 0
            req.wid, req.version = e.value, e.version
            self._finish(req, now + cost)
            return
        self._bstats[1] += 1
        if trip.count:
            self._count(0, "misses")
        d = self.net.delay(self.nodes[0], self.nodes[1], req.size)
        if d is None:
            lost(self.world, req)
            return
        self._send(req, 1, cost + d)

    def _send(self, req: Request, k: int, delay: float) -> None:
        """Put the read on its way to tier ``k``, arriving ``delay`` from now."""
        srv = self.servers[k]
        req.src = srv.node  # the lookup's answer is used at the tier itself: no reply hop
        req.srv = srv
        req.opcode = "read" if k == self.n - 1 else "get"
        req.k = self._got_cb[k]
        req.err = None
        req.result = None
        schedule(self.world, req, delay, self._arrive_cb[k])

    def _arrive(self, ev: Any, k: int) -> None:
        req: Request = ev._value
        if ev is not req.ev:
            return
        trip: _Trip = req.path
        trip.arr[k] = self.env._now
        if trip.count:
            self._count(k, "requests")
        self.servers[k].arrive(ev)

    def _looked_up(self, req: Request, k: int) -> None:
        """The lookup at tier ``k`` finished (at the tier's node)."""
        if req.err is not None:
            self._fail(req, k, req.err)
            return
        trip: _Trip = req.path
        r = req.result
        last = k == self.n - 1
        if not last and r is None:
            if trip.count:
                self._count(k, "misses")
            d = self.net.delay(self.nodes[k], self.nodes[k + 1], req.size)
            if d is None:
                lost(self.world, req)
                return
            self._send(req, k + 1, d)
            return
        if trip.count:
            self._count(k, "hits")
        req.wid, req.version = r[0], r[1]
        trip.served = k
        self._leave(req, k)

    def _leave(self, req: Request, k: int) -> None:
        """The response leaves tier ``k`` going up."""
        trip: _Trip = req.path
        now = self.env._now
        if trip.count:
            self.rec.totals[(self.names[k], "time")] += now - trip.arr[k]
        if k == 0:
            self._finish(req, now)
            return
        d = self.net.delay(self.nodes[k], self.nodes[k - 1], req.size)
        if d is None:
            lost(self.world, req)
            return
        schedule(self.world, req, d, self._back_cb[k - 1])

    def _back(self, ev: Any, j: int) -> None:
        """The response reaches tier ``j`` (which missed): fill it, pass it on."""
        req: Request = ev._value
        if ev is not req.ev:
            return
        if j == 0 and self.has_browser:
            trip: _Trip = req.path
            if trip.browser is not None:
                trip.browser.set(req.key, req.wid, req.size, ttl=self.specs[0].ttl, version=req.version)
        else:
            self.servers[j].fill(req.key, req.wid, req.size, req.version)
        self._leave(req, j)

    def _finish(self, req: Request, t: float) -> None:
        trip: _Trip = req.path
        behind, age, dirty = self.db.classify(req.key, req.wid, t)
        served = self.names[trip.served]
        req.served_by = served
        self.rec.read_served(t, served, behind, age, dirty)
        if self.trace is not None:
            self.trace.append((t - trip.arr[0], trip.served))
        _reply(req, t, "ok", "")

    def _fail(self, req: Request, k: int, err: str) -> None:
        self.rec.count(self.names[k], f"error_{err}", self.env._now)
        _reply(req, self.env._now, "error", f"{self.names[k]}_{err}")

    # --------------------------------------------------------------- writes
    def _write(self, req: Request) -> None:
        """A write walks down to the database (no lookups), commits, and invalidates on the way back."""
        self.writes += 1
        self._wids += 1
        req.wid = self._wids * 1024 + self._crc
        req.path = self.env._now >= self.rec.warmup
        total = 0.0
        for k in range(self.n - 1):
            if req.path:
                self._count(k, "writes")
            d = self.net.delay(self.nodes[k], self.nodes[k + 1], req.size)
            if d is None:
                lost(self.world, req)
                return
            total += d
        if self.has_browser:
            total += self._browser_cost()
        db = self.db
        req.src, req.srv, req.opcode, req.k, req.err = db.node, db, "write", self._written, None
        if req.path:
            self._count(self.n - 1, "writes")
        schedule(self.world, req, total, db.arrive)

    def _written(self, req: Request) -> None:
        if req.err is not None:
            self._fail(req, self.n - 1, req.err)
            return
        self._write_back(req, self.n - 1)

    def _write_back(self, req: Request, k: int) -> None:
        if k == 0:
            _reply(req, self.env._now, "ok", "")
            return
        d = self.net.delay(self.nodes[k], self.nodes[k - 1], 0)
        if d is None:
            lost(self.world, req)
            return
        schedule(self.world, req, d, self._wup_cb[k - 1])

    def _write_up(self, ev: Any, k: int) -> None:
        req: Request = ev._value
        if ev is not req.ev:
            return
        if self._invalidating[k] and self.servers[k].invalidate(req.key) and req.path:
            self._count(k, "invalidations")
        self._write_back(req, k)

    # -------------------------------------------------------------- results
    def summary(self, duration: float) -> dict[str, dict[str, Any]]:
        """Per tier: reads reaching it, load (reads/s), hits, misses, hit ratio, latency, stale serves."""
        rec = self.rec
        span = max(duration - rec.warmup, 1e-12)
        reads_done = sum(rec.total(n, "reads_served") for n in self.names)
        out: dict[str, dict[str, Any]] = {}
        for k, s in enumerate(self.specs):
            n = s.name
            reqs = rec.total(n, "requests")
            hits, misses = rec.total(n, "hits"), rec.total(n, "misses")
            time_here = rec.total(n, "time")
            time_below = rec.total(self.names[k + 1], "time") if k + 1 < self.n else 0.0
            d: dict[str, Any] = {
                "kind": s.kind, "requests": int(reqs), "load_per_s": reqs / span, "hits": int(hits),
                "misses": int(misses), "hit_ratio": hits / (hits + misses) if hits + misses else math.nan,
                "at_and_below_ms": time_here / reqs * 1000 if reqs else math.nan,
                # the tier's own share of the mean read latency: its queueing, service and the hop below it
                "latency_share_ms": (time_here - time_below) / reads_done * 1000 if reads_done else math.nan,
                "reads_served": int(rec.total(n, "reads_served")), "stale_reads": int(rec.total(n, "stale_reads")),
                "writes": int(rec.total(n, "writes")), "invalidations": int(rec.total(n, "invalidations")),
            }
            if s.kind == "database":
                d["hit_ratio"] = 1.0 if reqs else math.nan
                qc = self.db.qc
                if qc is not None:
                    d["query_cache_hit_ratio"] = qc.stats.hit_ratio
            out[n] = d
        return out


def _reply(req: Request, t: float, outcome: str, detail: str) -> None:
    """Hand the outcome to the request's client (owners of client requests are clients, which have ``reply``)."""
    owner: Any = req.owner
    owner.reply(req, t, outcome, detail)


def validate_chain(specs: Sequence[TierSpec]) -> None:
    """Check the shape of a chain: unique names, a browser only first, exactly one database, last."""
    if not specs:
        raise UsageError("tier chain: needs at least a database tier")
    for i, s in enumerate(specs):
        if not isinstance(s, TierSpec):
            raise UsageError(f"tier chain: item {i} must be a TierSpec, got {type(s).__name__}")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"tier chain: tier names must be unique, repeated: {', '.join(dup)}")
    kinds = [s.kind for s in specs]
    if kinds[-1] != "database" or kinds.count("database") != 1:
        raise UsageError(f"tier chain: the last tier, and only it, must be kind 'database'; kinds: {', '.join(kinds)}")
    if "browser" in kinds[1:]:
        raise UsageError("tier chain: a browser tier can only be the first tier (it sits on the client)")


def build_chain(world: World, specs: Sequence[TierSpec], name: str = "chain", queueing: str = "lindley",
                write_error_rate: float = 0.0) -> TierChain:
    """Build the database from the last spec (service: reads, write_service, workers: connections,
    capacity: query-cache entries) and the chain in front of it."""
    validate_chain(specs)
    d = specs[-1]
    if world.network is None:
        Network(world)
    db = Database(world, d.name, d.name, d.service_dist, d.write_dist, d.workers, query_cache=d.capacity,
                  write_error_rate=write_error_rate, queueing=queueing)  # type: ignore[arg-type]
    return TierChain(world, specs, db, name, queueing)
