"""The compiled engine of the three-tier model: the same summary as the SimPy engine, from one array loop.

What it supports (:func:`unsupported` names the first parameter outside it):
open-loop Poisson clients, the cache-aside strategy, LRU in-process and
networked caches of entries (size 1) with a TTL, a Redis (one event loop) or
memcached (``cache_workers`` threads) cache server and a database with
``db_connections`` connections, all FIFO by Lindley's recursion; any
distribution for the latencies, service and CPU times; any write fraction
(versioned writes, DEL invalidation, staleness accounting with the
database's bounded history); timeouts without retries; windowed metrics and a
warmup.  Lossy links, pools, retries, query caches, other strategies,
policies and arrival processes stay with the SimPy engine.

How it stays identical.  Every random number comes from the stream of the
same name (``World.rng``), drawn in the same batch sizes, and is consumed in
the same order, so the loop sees the same numbers as the SimPy components.
The loop (:func:`~simcache.sim.compiled._kernel.run_three_tier`) keeps one
queue of ``(time, seq)``-ordered entries, where ``seq`` counts what SimPy's
event ids count (one per scheduled step, timeout, arrival or scrape), so
simultaneous entries run in SimPy's order.  What it reports (finished
requests, served reads, counters, scrapes) is fed to a real
:class:`~simcache.sim.metrics.Recorder` with SimPy's flush boundaries, and the
summary comes from the same :func:`~simcache.sim.report.summarize`.
``tests/sim/test_compiled_three_tier.py`` checks both engines agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from simcache.sim.compiled import _kernel as K
from simcache.sim.dists import Dist
from simcache.sim.report import SimResult, summarize
from simcache.sim.world import World
from simcache.workloads import ZipfSampler

#: above this many objects the per-key arrays (about 100 bytes per object) are left to the SimPy engine
MAX_OBJECTS = 50_000_000
_BATCH = 2048  # Link.refill, Dist.buffered, Dist.sampler and the arrival gaps draw this many at a time
_KEY_BATCH = 4096  # clients._Draws
#: scales the first guess of how many draws each stream needs (tests shrink it to exercise the re-runs)
_FIRST_GUESS = 1.0


def unsupported(p: Any) -> str | None:
    """The first parameter of ``p`` (a ThreeTierParams) outside the compiled engine's subset, or None.

    Invalid values are reported as unsupported too (the SimPy engine then gives its own error).
    """
    checks: list[tuple[bool, str]] = [
        (p.arrivals == "poisson", f"arrivals={p.arrivals!r} (only 'poisson')"),
        (p.users == 0, f"users={p.users} (only open-loop clients, users=0)"),
        (p.strategy == "cache-aside", f"strategy={p.strategy!r} (only 'cache-aside')"),
        (p.app_cache == 0 or p.app_policy == "lru", f"app_policy={p.app_policy!r} (only 'lru')"),
        (p.cache_policy == "lru", f"cache_policy={p.cache_policy!r} (only 'lru')"),
        (p.queueing == "lindley", f"queueing={p.queueing!r} (only 'lindley')"),
        (p.loss == 0, f"loss={p.loss} (only lossless links)"),
        (p.retries == 0, f"retries={p.retries} (only 0)"),
        (p.cache_pool == 0, f"cache_pool={p.cache_pool} (only 0, no pool)"),
        (p.db_pool == 0, f"db_pool={p.db_pool} (only 0, no pool)"),
        (p.query_cache == 0, f"query_cache={p.query_cache} (only 0)"),
        (_int_at_least(p.app_cache, 0), f"app_cache={p.app_cache!r}"),
        (_int_at_least(p.cache_capacity, 1), f"cache_capacity={p.cache_capacity!r}"),
        (p.cache_profile in ("redis", "memcached"), f"cache_profile={p.cache_profile!r}"),
        (p.cache_profile == "redis" or _int_at_least(p.cache_workers, 1), f"cache_workers={p.cache_workers!r}"),
        (_int_at_least(p.db_connections, 1), f"db_connections={p.db_connections!r}"),
        (_int_at_least(p.n_objects, 1) and p.n_objects <= MAX_OBJECTS, f"n_objects={p.n_objects!r}"),
        (isinstance(p.alpha, int | float) and math.isfinite(p.alpha) and p.alpha >= 0, f"alpha={p.alpha!r}"),
        (0.0 <= p.write_fraction <= 1.0, f"write_fraction={p.write_fraction!r}"),
        (p.rate > 0 and math.isfinite(p.rate), f"rate={p.rate!r}"),
        (math.isfinite(p.duration), f"duration={p.duration!r}"),
    ]
    for ok, what in checks:
        if not ok:
            return what
    return None


def _int_at_least(v: Any, lo: int) -> bool:
    return bool(isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= lo)


class _Stream:
    """A component's random stream as one growing array, drawn in the component's own batch size."""

    def __init__(self, draw: Callable[[], np.ndarray]) -> None:
        self._draw = draw
        self._parts: list[np.ndarray] = []
        self._n = 0
        self.arr = np.zeros(0)

    def ensure(self, n: int) -> np.ndarray:
        """The stream's first ``n`` draws or more."""
        if self._n < n:
            while self._n < n:
                part = self._draw()
                self._parts.append(part)
                self._n += part.size
            self.arr = np.concatenate(self._parts)
            self._parts = [self.arr]
        return self.arr


def simulate_compiled(p: Any, seed: int, local_service: str, timeseries: bool = True,
                      stats: dict[str, float] | None = None) -> SimResult:
    """Run the three-tier model ``p`` (a supported ThreeTierParams) with the compiled engine.

    Args:
        p: the model's parameters (see :func:`unsupported`).
        seed: the run's seed.
        local_service: the in-process cache's lookup time (a constant, as the model builds it).
        timeseries: build the per-window time series (the summary alone does not need it).
        stats: if given, receives ``queue_entries`` (entries the loop scheduled) and ``runs`` (loop runs).
    """
    world = World(seed, window=p.window, warmup=p.warmup)
    until = float(p.duration)
    has_local = p.app_cache > 0
    workers = 1 if p.cache_profile == "redis" else int(p.cache_workers)
    lcost = Dist.parse(local_service)
    if lcost.kind != "constant":
        raise ValueError("the in-process cache's lookup time must be a constant")

    def dist_stream(name: str, spec: str) -> _Stream:
        rng, dist = world.rng(name), Dist.parse(spec)
        return _Stream(lambda: dist.draw(rng, _BATCH))

    # the streams, by the names the SimPy components take them under
    arng = world.rng("clients:arrivals")
    gaps = _Stream(lambda: arng.exponential(1.0, _BATCH) / p.rate)
    crng = world.rng("clients")
    zipf = ZipfSampler(p.alpha, p.n_objects, crng, scramble=False)
    wparts: list[np.ndarray] = []

    def key_batch() -> np.ndarray:
        k = np.asarray(zipf.sample(_KEY_BATCH), dtype=np.int64)
        wparts.append(crng.random(_KEY_BATCH) < p.write_fraction)  # drawn after the keys, as _Draws.refill
        return k

    keys = _Stream(key_batch)
    lat_c = dist_stream("link:clients|app", p.client_latency)
    lat_r = dist_stream("link:app|redis", p.cache_latency)
    lat_d = dist_stream("link:app|db", p.db_latency)
    svc_r = dist_stream("redis", p.cache_service)
    svc_dr = dist_stream("db", p.db_read)
    svc_dw = dist_stream("db:write", p.db_write)
    cpu = dist_stream("app", p.app_cpu)

    # sizes: arrivals before the end (+ margin), and per request at most 2 client-link draws, 2 cache commands
    # (4 cache-link draws), 1 database command (2 database-link draws) and 1 app CPU time
    g = gaps.ensure(_BATCH)
    while g.sum() <= until:
        g = gaps.ensure(g.size + _BATCH)
    n_arr = int(_FIRST_GUESS * (int(np.searchsorted(np.cumsum(g), until)) + 2))
    g = gaps.ensure(n_arr + 1)
    k = keys.ensure(n_arr)
    w = np.concatenate(wparts)
    n_w = int(w[:n_arr].sum())
    most = {"c": 2 * n_arr, "r": 4 * (n_arr - n_w) + 2 * n_w, "d": 2 * n_arr, "sr": 2 * (n_arr - n_w) + n_w,
            "sdr": n_arr - n_w, "sdw": n_w, "cpu": n_arr}
    want = {name: max(int(_FIRST_GUESS * v), 1) for name, v in most.items()}
    streams = {"c": lat_c, "r": lat_r, "d": lat_d, "sr": svc_r, "sdr": svc_dr, "sdw": svc_dw, "cpu": cpu}
    by_status = {K.S_LINK_C: "c", K.S_LINK_R: "r", K.S_LINK_D: "d", K.S_SVC_R: "sr", K.S_SVC_DR: "sdr",
                 K.S_SVC_DW: "sdw", K.S_CPU: "cpu"}
    n_snap = max(int(_FIRST_GUESS * (int(until / p.window) + 4)), 1)

    fp = np.array([until, p.window, p.timeout, p.ttl, float(lcost.a)], dtype=np.float64)
    ip = np.array([int(has_local), max(int(p.app_cache), 1), int(p.cache_capacity), workers, int(p.db_connections),
                   1024], dtype=np.int64)  # 1024: Database's default history
    runs = 0
    while True:
        arrs = {name: s.ensure(want[name]) for name, s in streams.items()}
        n_req = k.size
        st = np.zeros(K.N_STATS, dtype=np.float64)
        out_t, out_v, out_kind = np.empty(n_req), np.empty(n_req), np.empty(n_req, dtype=np.int64)
        sv_t, sv_tier, sv_behind = np.empty(n_req), np.empty(n_req, dtype=np.int64), np.empty(n_req, dtype=np.int64)
        sv_age, sv_dirty = np.empty(n_req), np.empty(n_req, dtype=np.bool_)
        snap_t, snap = np.empty(n_snap), np.empty((n_snap, K.N_STATS))
        counts = np.zeros(4, dtype=np.int64)
        runs += 1
        status = K.run_three_tier(fp, ip, g, k, w, arrs["c"], arrs["r"], arrs["d"], arrs["sr"], arrs["sdr"],
                                  arrs["sdw"], arrs["cpu"], int(p.n_objects), st, out_t, out_v, out_kind, sv_t,
                                  sv_tier, sv_behind, sv_age, sv_dirty, snap_t, snap, counts)
        if status == K.OK:
            break
        # a stream ran dry: draw more (a longer prefix of the same stream) and run again
        if status == K.S_GAPS:
            g = gaps.ensure(2 * g.size)
        elif status == K.S_KEYS:
            k = keys.ensure(2 * k.size)
            w = np.concatenate(wparts)
        elif status == K.S_SCRAPES:
            n_snap *= 2
        else:
            name = by_status[int(status)]
            want[name] *= 2

    n_out, n_sv, n_sc, entries = (int(x) for x in counts)
    if stats is not None:
        stats.update(queue_entries=entries, runs=runs)
    rec = world.recorder
    tiers = (["app_cache"] if has_local else []) + ["redis", "db"]
    cache_cap = int(p.cache_capacity)
    local_cap = int(p.app_cache)

    def scrapes(v: np.ndarray) -> list[tuple[str, dict[str, float]]]:
        # each component's counters() as the recorder scrapes them (db, redis, app_cache: the order they watch)
        def server(o: int) -> dict[str, float]:
            return {"commands": int(v[o]), "busy": float(v[o + 1]), "wait": float(v[o + 2]),
                    "in_flight": int(v[o + 3]), "refused": 0, "reset": 0, "up": 1.0}

        def store(b: int, cap: int) -> dict[str, float]:
            keys_ = int(v[b + K.C_KEYS])
            return {"hits": int(v[b + K.C_HITS]), "misses": int(v[b + K.C_MISSES]),
                    "evictions": int(v[b + K.C_EVICTIONS]), "expired": int(v[b + K.C_EXPIRED]),
                    "sets": int(v[b + K.C_SETS]), "deletes": int(v[b + K.C_DELETES])} | (
                {"keys": keys_, "memory_usage": keys_ / cap})

        db = server(K.D_OPS) | {"reads": int(v[K.D_READS]), "writes": int(v[K.D_WRITES]), "write_errors": 0}
        rs = store(K.R_CACHE, cache_cap)
        redis = server(K.R_OPS) | {k_: rs[k_] for k_ in ("hits", "misses", "evictions", "expired", "sets", "deletes")}
        redis |= {"refused_writes": 0, "keys": rs["keys"], "memory_usage": rs["memory_usage"]}
        out = [("db", db), ("redis", redis)]
        if has_local:
            out.append(("app_cache", store(K.L_CACHE, local_cap)))
        return out

    final = scrapes(st)
    rec.watch("db", lambda: final[0][1], gauges=("in_flight", "up"))
    rec.watch("redis", lambda: final[1][1], gauges=("in_flight", "up", "keys", "memory_usage"))
    if has_local:
        rec.watch("app_cache", lambda: final[2][1], gauges=("keys", "memory_usage"))
    rec._scrapes.extend((0.0, name, d) for name, d in scrapes(np.zeros(K.N_STATS)))
    for i in range(n_sc):
        rec._scrapes.extend((float(snap_t[i]), name, d) for name, d in scrapes(snap[i]))
    if rec._scrapes[-1][0] < until:
        rec._scrapes.extend((until, name, d) for name, d in final)
    rec.end_time = until
    _feed_requests(rec, out_t[:n_out], out_v[:n_out], out_kind[:n_out])
    _feed_served(rec, tiers, sv_t[:n_sv], sv_tier[:n_sv], sv_behind[:n_sv], sv_age[:n_sv], sv_dirty[:n_sv])
    if st[K.TR_CALLS]:
        rec.totals[("redis", "time")] = float(st[K.TR_TIME])
        rec.totals[("redis", "calls")] = float(st[K.TR_CALLS])
    if st[K.TD_CALLS]:
        rec.totals[("db", "time")] = float(st[K.TD_TIME])
        rec.totals[("db", "calls")] = float(st[K.TD_CALLS])

    client = SimpleNamespace(issued=int(st[K.ISSUED]), finished=int(st[K.FINISHED]))
    db = SimpleNamespace(name="db", reads=int(st[K.D_READS]), writes=int(st[K.D_WRITES]), ops=int(st[K.D_OPS]),
                         busy=float(st[K.D_BUSY]), workers=int(p.db_connections), wait_sum=float(st[K.D_WAIT]),
                         write_errors=0, truncated_reads=int(st[K.TRUNCATED]))
    summary = summarize(world, p.duration, [client], tiers, db)
    return SimResult(summary, rec.timeseries(), world) if timeseries else SimResult(summary, world=world)


def _feed_requests(rec: Any, t: np.ndarray, v: np.ndarray, kind: np.ndarray) -> None:
    """What ``Recorder.request`` makes of the finished requests, with its flush boundaries (so sums agree)."""
    keep = t >= rec.warmup
    t, v, kind = t[keep], v[keep], kind[keep]
    inv_w = rec._inv_w
    late = kind >= 2
    for code, op in ((2, "read"), (3, "write")):
        tt = t[kind == code]
        if tt.size == 0:
            continue
        uw, cnt = np.unique((tt * inv_w).astype(np.int64), return_counts=True)
        for wi, c in zip(uw.tolist(), cnt.tolist(), strict=True):
            rec.windowed[("errors", "timeout", wi)] += c
            rec.windowed[("client", "timeout", wi)] += c
        rec.totals[("errors", "timeout")] += tt.size
        rec.totals[("client", "timeout")] += tt.size
        rec.totals[("client", f"{op}_timeout")] += tt.size
    ok = ~late
    t, v, w = t[ok], v[ok], kind[ok] == 1
    for a in range(0, t.size, rec.FLUSH):
        # Recorder._flush_requests on one buffer of FLUSH requests
        ct, cv, cw = t[a:a + rec.FLUSH], v[a:a + rec.FLUSH], w[a:a + rec.FLUSH]
        uw, cnt = np.unique((ct * inv_w).astype(np.int64), return_counts=True)
        for wi, c in zip(uw.tolist(), cnt.tolist(), strict=True):
            rec.windowed[("client", "ok", wi)] += c
        rec.totals[("client", "ok")] += ct.size
        names = ["all"] + [name for name, sel in (("read", ~cw), ("write", cw)) if sel.any()]
        for name in names:
            s = rec._streams.get(name)
            if s is None:
                s = rec._streams[name] = _latency_stream(rec)
            sel = slice(None) if name == "all" else (cw if name == "write" else ~cw)
            s.t.extend(ct[sel].tolist())
            s.v.extend(cv[sel].tolist())
            if name != "all":
                rec.totals[("client", f"{name}_ok")] += len(s.v)
            rec._flush(s)


def _latency_stream(rec: Any) -> Any:
    from simcache.sim.metrics import _LatencyStream

    return _LatencyStream(rec.layout)


def _feed_served(rec: Any, tiers: list[str], t: np.ndarray, tier: np.ndarray, behind: np.ndarray, age: np.ndarray,
                 dirty: np.ndarray) -> None:
    """What ``Recorder.read_served`` makes of the served reads."""
    keep = t >= rec.warmup
    t, tier, behind, age, dirty = t[keep], tier[keep], behind[keep], age[keep], dirty[keep]
    names = ("app_cache", "redis", "db")
    for i in np.flatnonzero(dirty | (behind > 0)).tolist():
        name, ti = names[tier[i]], float(t[i])
        if dirty[i]:
            rec.count(name, "dirty_reads", ti)
            rec.count("client", "dirty_reads", ti)
        else:
            rec.count(name, "stale_reads", ti)
            rec.count("client", "stale_reads", ti)
            rec.totals[(name, "stale_versions_sum")] += int(behind[i])
            rec.stale_age.add([max(float(age[i]), 0.0)])
    for code, name in enumerate(names):
        tt = t[tier == code]
        if tt.size == 0:
            continue
        uw, cnt = np.unique((tt * rec._inv_w).astype(np.int64), return_counts=True)
        for wi, c in zip(uw.tolist(), cnt.tolist(), strict=True):
            rec.windowed[(name, "reads_served", wi)] += c
        rec.totals[(name, "reads_served")] += int(tt.size)
