"""The application server and its caching strategies (the seed's patterns, flaws included, and safer variants).

An :class:`App` receives client requests and talks to an optional
in-process cache, an optional networked cache and the database.  Each
strategy is a subclass overriding ``read`` and/or ``write``; every remote
call is a :func:`~simcache.sim.core.call` whose continuation is a method.

=================  ==========================================================
cache-aside        read: local, cache, then DB and fill (SET with TTL);
                   write: DB, then delete from the cache (the seed's CacheAside)
read-through       the cache node loads from the DB on a miss and fills itself
write-through      ``order="cache_first"``: SET then DB write, as the seed's
                   WriteThrough (a DB failure leaves an uncommitted value in
                   the cache); ``order="db_first"``: DB then SET (safer)
write-behind       SET, then the cache node's queue; a background writer batches
                   up to 100 items, 0.1 s per-item wait (the seed's loop);
                   queued writes die with the node unless ``durable``
write-around       writes go to the DB only; cached copies go stale until TTL
refresh-ahead      cache-aside, plus a background reload when a hit finds less
                   than ``refresh_fraction`` of the TTL left
=================  ==========================================================
"""

from __future__ import annotations

import zlib
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.sim.core import Pool, Request, call, deliver, lost, schedule
from simcache.sim.database import Database
from simcache.sim.dists import Dist
from simcache.sim.fastlru import lru_get, lru_set
from simcache.sim.servers import CacheServer, InProcessCache
from simcache.sim.world import World

STRATEGIES: dict[str, type[App]] = {}


def strategy(name: str) -> Any:
    """Class decorator registering an App subclass as strategy ``name``."""

    def deco(cls: type[App]) -> type[App]:
        cls.strategy_name = name
        STRATEGIES[name] = cls
        return cls

    return deco


def make_app(strategy_name: str, world: World, name: str, node: str, db: Database, **kw: Any) -> App:
    """Build the App of a registered strategy; unknown names list the valid ones."""
    cls = STRATEGIES.get(strategy_name)
    if cls is None:
        raise UsageError(f"unknown write strategy {strategy_name!r}; valid strategies: {', '.join(sorted(STRATEGIES))}")
    return cls(world, name, node, db, **kw)


class App:
    """An application server.

    Args:
        world: the simulation world.
        name: component name.
        node: network node.
        db: the database.
        cache: the networked cache (None: none).
        local: the in-process cache (None: none).
        ttl: TTL of cache fills (seconds; None: no expiry).
        cpu: the app's own processing time per request.
        cache_pool: (connections, wait seconds) to the cache; None: unbounded.
        db_pool: (connections, wait seconds) to the database; None: unbounded.
    """

    strategy_name = "base"

    def __init__(self, world: World, name: str, node: str, db: Database, cache: CacheServer | None = None,
                 local: InProcessCache | None = None, ttl: float | None = 3600.0, cpu: Dist | str | float = 0.0,
                 cache_pool: tuple[int, float] | None = None, db_pool: tuple[int, float] | None = None,
                 **options: Any) -> None:
        self.world = world
        self.rec = world.recorder
        self.name = name
        self.node = node
        self.db = db
        self.cache = cache
        self.local = local
        self.ttl = ttl
        self._cpub = Dist.parse(cpu).buffered(world.rng(name))
        self._cpu = self._cpub
        self.cache_pool = Pool(world, f"{name}:pool:{cache.name}", *cache_pool) if cache and cache_pool else None
        self.db_pool = Pool(world, f"{name}:pool:{db.name}", *db_pool) if db_pool else None
        self._wids = 0
        self.configure(**options)

    def configure(self, *args: Any, **options: Any) -> None:
        """Strategy options: subclasses override with keyword-only parameters; unknown ones are an error.

        ``*args, **options`` is the signature any override may narrow; options only ever come by name.
        """
        if args:
            raise TypeError(f"{type(self).__name__}.configure() takes options by name only")
        if options:
            raise UsageError(f"strategy {self.strategy_name!r} takes no option {', '.join(sorted(options))}")

    def new_wid(self) -> int:
        """A fresh value id for a write."""
        self._wids += 1
        return self._wids * 1024 + (zlib.crc32(self.name.encode()) & 1023)

    # -------------------------------------------------------------- entry
    def handle(self, req: Request) -> None:
        """A client request reaches the app."""
        if req.op == "read":
            self.read(req)
        else:
            self.write(req)

    def read(self, req: Request) -> None:
        raise NotImplementedError

    def write(self, req: Request) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ helpers
    def cache_call(self, req: Request, opcode: str, k: Any) -> None:
        call(self.world, req, self.node, self.cache, opcode, k, self.cache_pool)

    def db_call(self, req: Request, opcode: str, k: Any) -> None:
        call(self.world, req, self.node, self.db, opcode, k, self.db_pool)

    def spent(self, tier: str, req: Request) -> None:
        """Charge the round trip that just ended to ``tier``."""
        t = self.rec.totals
        t[(tier, "time")] += self.world.env._now - req.t_sent
        t[(tier, "calls")] += 1

    def served(self, req: Request, tier: str, wid: int, version: int | None = None) -> None:
        """A read obtained value ``wid`` (``version`` as the tier holds it) from ``tier``; the recorder learns how
        fresh it was."""
        req.served_by = tier
        req.wid = wid
        now = self.world.env._now
        behind, age, dirty = self.db.classify(req.key, wid, now, version)
        self.rec.read_served(now, tier, behind, age, dirty)

    def done(self, req: Request, extra: float = 0.0) -> None:
        b = self._cpub.buf
        req.owner.reply(req, self.world.env._now + (b.pop() if b else self._cpub.refill()) + extra, "ok", "")

    def fail(self, req: Request, err: str) -> None:
        self.rec.count(self.name, f"error_{err}", self.world.env._now)
        req.owner.reply(req, self.world.env._now + self._cpu(), "error", err)

    def fill_local(self, req: Request, wid: int, version: int) -> None:
        if self.local is not None:
            lru_set(self.local.store, req.key, wid, req.size, self.ttl, version, self.world.env._now)

    # ------------------------------------------------ cache-aside read path
    def read_cache_aside(self, req: Request) -> None:
        loc = self.local
        if loc is not None:
            e = lru_get(loc.store, req.key, self.world.env._now)
            if e is not None:
                self.served(req, loc.name, e.value, e.version)
                self.done(req, loc.cost())
                return
        if self.cache is not None:
            self.cache_call(req, "get", self._ca_got)
        else:
            self.db_call(req, "read", self._ca_db)

    def _ca_got(self, req: Request) -> None:
        cache = self.cache
        assert cache is not None
        # self.spent(cache.name, req), inlined
        t = self.rec.totals
        t[(cache.name, "time")] += self.world.env._now - req.t_sent
        t[(cache.name, "calls")] += 1
        r = req.result
        if req.err is None and r is not None:
            self.fill_local(req, r[0], r[1])
            self.served(req, cache.name, r[0], r[1])
            self.on_cache_hit(req, r)
            self.done(req)
            return
        if req.err is not None:
            # a cache that cannot answer is treated as a miss: the DB is still there
            self.rec.count(self.name, f"cache_{req.err}", self.world.env._now)
        self.db_call(req, "read", self._ca_db)

    def on_cache_hit(self, req: Request, entry: tuple[int, int, float | None]) -> None:
        """Hook: a read hit the networked cache."""

    def _ca_db(self, req: Request) -> None:
        t = self.rec.totals
        t[(self.db.name, "time")] += self.world.env._now - req.t_sent
        t[(self.db.name, "calls")] += 1
        if req.err is not None:
            self.fail(req, req.err)
            return
        wid, version = req.result
        self.served(req, self.db.name, wid, version)
        self.fill_local(req, wid, version)
        if self.cache is None:
            self.done(req)
            return
        req.wid, req.version, req.ttl = wid, version, self.ttl
        self.cache_call(req, "set", self._ca_filled)

    def _ca_filled(self, req: Request) -> None:
        assert self.cache is not None
        t = self.rec.totals
        now = self.world.env._now
        t[(self.cache.name, "time")] += now - req.t_sent
        t[(self.cache.name, "calls")] += 1
        # self.done(req), inlined
        b = self._cpub.buf
        req.owner.reply(req, now + (b.pop() if b else self._cpub.refill()), "ok", "")

    # ----------------------------------------------- cache-aside write path
    def write_db_then_delete(self, req: Request) -> None:
        req.wid = self.new_wid()
        self.db_call(req, "write", self._ca_written)

    def _ca_written(self, req: Request) -> None:
        self.spent(self.db.name, req)
        if req.err is not None:
            self.fail(req, req.err)
            return
        if self.local is not None:
            self.local.store.delete(req.key)
        if self.cache is None:
            self.done(req)
            return
        self.cache_call(req, "del", self._ca_deleted)

    def _ca_deleted(self, req: Request) -> None:
        assert self.cache is not None
        self.spent(self.cache.name, req)
        if req.err is not None:
            # the delete was lost: the cache may serve the old value until its TTL
            self.rec.count(self.name, "invalidation_failed", self.world.env._now)
        self.done(req)


@strategy("cache-aside")
class CacheAside(App):
    """Read: cache, then DB and fill; write: DB, then delete from the cache."""

    # aliases rather than one-line wrappers: one Python call less per request
    read = App.read_cache_aside
    write = App.write_db_then_delete


@strategy("read-through")
class ReadThrough(App):
    """The cache node loads missing keys from the DB itself and fills; writes: DB then delete."""

    def read(self, req: Request) -> None:
        loc = self.local
        if loc is not None:
            e = lru_get(loc.store, req.key, self.world.env._now)
            if e is not None:
                self.served(req, loc.name, e.value, e.version)
                self.done(req, loc.cost())
                return
        if self.cache is None:
            raise UsageError("read-through needs a networked cache")
        req.path = self.world.env._now
        self.cache_call(req, "get", self._rt_got)

    def _rt_got(self, req: Request) -> None:
        cache = self.cache
        assert cache is not None
        if req.err is None and req.result is not None:
            self.spent(cache.name, req)
            self.fill_local(req, req.result[0], req.result[1])
            self.served(req, cache.name, req.result[0], req.result[1])
            self.done(req)
            return
        if req.err is not None:
            self.spent(cache.name, req)
            self.fail(req, f"cache_{req.err}")
            return
        # the miss reply is the loader's own trip: cache node -> DB -> fill -> app
        req.src = cache.node
        call(self.world, req, cache.node, self.db, "read", self._rt_loaded)

    def _rt_loaded(self, req: Request) -> None:
        cache = self.cache
        assert cache is not None
        if req.err is not None:
            self.fail(req, req.err)
            return
        wid, version = req.result
        if cache.up:
            cache._t = self.world.env._now
            cache.store.set(req.key, wid, req.size, ttl=self.ttl, version=version)
        back = self.world.network.delay(cache.node, self.node, req.size)
        if back is None:
            lost(self.world, req)
            return
        req.k = self._rt_back
        req.result = (wid, version)
        schedule(self.world, req, back, deliver)

    def _rt_back(self, req: Request) -> None:
        assert self.cache is not None
        t = self.rec.totals
        t[(self.cache.name, "time")] += self.world.env._now - req.path
        t[(self.cache.name, "calls")] += 1
        wid, version = req.result
        self.fill_local(req, wid, version)
        self.served(req, self.db.name, wid, version)
        self.done(req)

    def write(self, req: Request) -> None:
        self.write_db_then_delete(req)


@strategy("write-through")
class WriteThrough(App):
    """Writes go to the cache and the DB synchronously.

    Options:
        order: "cache_first" (the seed: SET, then DB write) or "db_first".
        read_miss: "db" (fall back to the DB and fill) or "none" (the seed's
            ``get`` reads the cache only: a miss answers nothing, an error ``not_found``).
    """

    def configure(self, *, order: str = "cache_first", read_miss: str = "db") -> None:
        if order not in ("cache_first", "db_first"):
            raise UsageError(f"write-through: order must be 'cache_first' or 'db_first', got {order!r}")
        if read_miss not in ("db", "none"):
            raise UsageError(f"write-through: read_miss must be 'db' or 'none', got {read_miss!r}")
        self.order = order
        self.read_miss = read_miss

    def read(self, req: Request) -> None:
        if self.read_miss == "db":
            self.read_cache_aside(req)
            return
        if self.cache is None:
            raise UsageError("write-through needs a networked cache")
        self.cache_call(req, "get", self._wt_got)

    def _wt_got(self, req: Request) -> None:
        assert self.cache is not None
        self.spent(self.cache.name, req)
        if req.err is None and req.result is not None:
            self.served(req, self.cache.name, req.result[0], req.result[1])
            self.done(req)
        else:
            self.fail(req, "not_found" if req.err is None else f"cache_{req.err}")

    def write(self, req: Request) -> None:
        if self.cache is None:
            raise UsageError("write-through needs a networked cache")
        req.wid = self.new_wid()
        if self.local is not None:
            self.local.store.delete(req.key)
        if self.order == "cache_first":
            req.version, req.ttl = -1, self.ttl  # not committed yet: the DB has not stamped it
            self.cache_call(req, "set", self._wt_cache_set)
        else:
            self.db_call(req, "write", self._wt_db_written)

    # seed order: cache, then DB
    def _wt_cache_set(self, req: Request) -> None:
        assert self.cache is not None
        self.spent(self.cache.name, req)
        if req.err is not None:
            self.fail(req, f"cache_{req.err}")
            return
        self.db_call(req, "write", self._wt_db_after_cache)

    def _wt_db_after_cache(self, req: Request) -> None:
        self.spent(self.db.name, req)
        if req.err is not None:
            # the cache now holds a value the DB never committed
            self.rec.count(self.name, "uncommitted_in_cache", self.world.env._now)
            self.fail(req, req.err)
            return
        self.done(req)

    # safer order: DB, then cache
    def _wt_db_written(self, req: Request) -> None:
        self.spent(self.db.name, req)
        if req.err is not None:
            self.fail(req, req.err)
            return
        req.version, req.ttl = req.result, self.ttl
        self.cache_call(req, "set", self._wt_set_after_db)

    def _wt_set_after_db(self, req: Request) -> None:
        assert self.cache is not None
        self.spent(self.cache.name, req)
        if req.err is not None:
            self.rec.count(self.name, "cache_update_failed", self.world.env._now)
        self.done(req)


class WriteBehindQueue:
    """The seed's background writer, living on a cache node.

    Loop: collect up to ``batch`` items, waiting at most ``wait`` seconds for
    each; write a non-empty batch to the DB and wait for it; repeat.  Items
    still queued (or collected but not yet sent) when the node crashes are
    lost and counted, unless ``durable``.

    Args:
        app: the app whose database receives the batches.
        node: the cache node hosting the queue.
        batch: items per batch (seed: 100).
        wait: per-item queue timeout in seconds (seed: 0.1).
        durable: keep the queue across crashes (a persisted stream).
    """

    def __init__(self, app: App, node: CacheServer, batch: int = 100, wait: float = 0.1,
                 durable: bool = False) -> None:
        self.app = app
        self.world = app.world
        self.env = app.world.env
        self.node = node
        self.batch_size = batch
        self.wait = wait
        self.durable = durable
        self.queue = simpy.Store(self.env)
        self.collecting: list[tuple[Any, int]] = []
        self.enqueued = 0
        self.flushed = 0
        self.lost = 0
        self.batches = 0
        self._get: Any = None
        self._proc = self.env.process(self._writer())
        node.write_behind = self
        self._rid = 0
        app.rec.watch(f"{node.name}:write_behind", self.counters, gauges=("queued",))

    def counters(self) -> dict[str, float]:
        return {"queued": len(self.queue.items) + len(self.collecting), "enqueued": self.enqueued,
                "flushed": self.flushed, "lost": self.lost, "batches": self.batches}

    def put(self, key: Any, wid: int) -> None:
        self.enqueued += 1
        self.queue.put((key, wid))

    def _writer(self) -> Any:
        env = self.env
        try:
            while True:
                self.collecting = batch = []
                for _ in range(self.batch_size):
                    self._get = get = self.queue.get()
                    got = yield get | env.timeout(self.wait)
                    self._get = None
                    if get not in got:
                        get.cancel()
                        break
                    batch.append(get.value)
                if batch:
                    self.collecting = []
                    done = env.event()
                    self._rid += 1
                    job = Request(-self._rid, None, "write", 1, env.now, env.now + 30.0, self)
                    job.items = batch
                    job.path = (done, len(batch))
                    call(self.world, job, self.node.node, self.app.db, "batch_write", self._flushed)
                    yield done
        except simpy.Interrupt:
            return

    def _flushed(self, job: Request) -> None:
        done, n = job.path
        if job.err is None:
            self.flushed += n
            self.batches += 1
        else:
            self._lose(n, job.err)
        if not done.triggered:
            done.succeed()

    def on_timeout(self, job: Request) -> None:
        done, n = job.path
        self._lose(n, "timeout")
        if not done.triggered:
            done.succeed()

    def reply(self, req: Request, t: float, outcome: str, detail: str) -> None:  # pragma: no cover - jobs never reply
        pass

    def _lose(self, n: int, why: str) -> None:
        self.lost += n
        self.world.recorder.count(self.node.name, "writes_lost", self.env.now, n)
        self.world.recorder.count(self.node.name, f"writes_lost_{why}", self.env.now, n)

    def node_crashed(self) -> None:
        get = self._get
        if get is not None:
            # the dead writer's pending get must not swallow an item later
            if get.triggered:
                self.collecting.append(get.value)
            else:
                get.cancel()
            self._get = None
        if self.durable:
            if self.collecting:
                self.queue.items[:0] = self.collecting
                self.collecting = []
        else:
            n = len(self.queue.items) + len(self.collecting)
            self.queue.items.clear()
            self.collecting = []
            if n:
                self._lose(n, "crash")
        if self._proc.is_alive:
            self._proc.interrupt()

    def node_restarted(self) -> None:
        self._proc = self.env.process(self._writer())


@strategy("write-behind")
class WriteBehind(App):
    """Write: SET in the cache, queue for the DB, answer; reads: cache-aside.

    Options:
        batch: items per DB batch (seed: 100).
        wait: per-item queue timeout (seed: 0.1 s).
        durable: the queue survives a node crash (the safer variant).
    """

    def configure(self, *, batch: int = 100, wait: float = 0.1, durable: bool = False) -> None:
        if self.cache is None:
            raise UsageError("write-behind needs a networked cache")
        self.wb = WriteBehindQueue(self, self.cache, batch, wait, durable)

    def read(self, req: Request) -> None:
        self.read_cache_aside(req)

    def write(self, req: Request) -> None:
        req.wid = self.new_wid()
        req.version, req.ttl = -1, self.ttl
        if self.local is not None:
            self.local.store.delete(req.key)
        self.cache_call(req, "set", self._wb_set)

    def _wb_set(self, req: Request) -> None:
        assert self.cache is not None
        self.spent(self.cache.name, req)
        if req.err is not None:
            self.fail(req, f"cache_{req.err}")
            return
        # the SET ran on the node; the node queues the write at the same moment
        if self.cache.up:
            self.wb.put(req.key, req.wid)
        else:
            self.wb._lose(1, "crash")
        self.done(req)


@strategy("write-around")
class WriteAround(App):
    """Writes go to the DB only (no invalidation); reads: cache-aside, so cached copies stay stale until TTL."""

    def read(self, req: Request) -> None:
        self.read_cache_aside(req)

    def write(self, req: Request) -> None:
        req.wid = self.new_wid()
        self.db_call(req, "write", self._wa_written)

    def _wa_written(self, req: Request) -> None:
        self.spent(self.db.name, req)
        if req.err is not None:
            self.fail(req, req.err)
        else:
            self.done(req)


@strategy("refresh-ahead")
class RefreshAhead(CacheAside):
    """Cache-aside, plus an asynchronous reload when a hit finds less than ``refresh_fraction`` of the TTL left.

    Options:
        refresh_fraction: remaining-TTL fraction that triggers a reload (0 < f < 1).
    """

    def configure(self, *, refresh_fraction: float = 0.2) -> None:
        if not 0 < refresh_fraction < 1:
            raise UsageError(f"refresh-ahead: refresh_fraction must be in (0, 1), got {refresh_fraction}")
        self.refresh_fraction = refresh_fraction
        self._refreshing: set[Any] = set()
        self._jobs = 0
        self.refreshes = 0

    def on_cache_hit(self, req: Request, entry: tuple[int, int, float | None]) -> None:
        exp = entry[2]
        if exp is None or self.ttl is None or req.key in self._refreshing:
            return
        now = self.world.env._now
        if exp - now < self.refresh_fraction * self.ttl:
            self._refreshing.add(req.key)
            self._jobs += 1
            job = Request(-self._jobs, req.key, "read", req.size, now, now + 30.0, self)
            self.refreshes += 1
            self.db_call(job, "read", self._refreshed)

    def _refreshed(self, job: Request) -> None:
        if job.err is not None:
            self._refreshing.discard(job.key)
            return
        job.wid, job.version = job.result
        job.ttl = self.ttl
        self.cache_call(job, "set", self._refill_done)

    def _refill_done(self, job: Request) -> None:
        self._refreshing.discard(job.key)

    def on_timeout(self, job: Request) -> None:
        self._refreshing.discard(job.key)

    def reply(self, req: Request, t: float, outcome: str, detail: str) -> None:  # pragma: no cover
        pass
