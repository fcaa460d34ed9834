"""The database: the source of truth, with versioned values, bounded connections and an optional query cache."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from simcache.errors import UsageError
from simcache.sim.core import Request
from simcache.sim.dists import Dist, uniform_sampler
from simcache.sim.servers import Queueing, Server
from simcache.sim.world import World
from simcache.store import Cache


class KeyHistory:
    """The recent commits of one key: commit times of versions ``base + 1 ...``, and value id -> version.

    Commit times are non-decreasing (FIFO service starts), so "how many
    versions were committed by time t" is a bisection.
    """

    __slots__ = ("times", "wids", "base")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.wids: dict[int, int] = {}
        self.base = 0  # versions forgotten (all committed before times[0])

    @property
    def latest(self) -> int:
        """The number of versions committed (the latest version)."""
        return self.base + len(self.times)


class Database(Server):
    """A versioned key-value database.

    Every key starts at version 0 (value id 0, committed at time 0).  A write
    carries a value id (``req.wid``, unique per write) and commits at the
    start of its service: the key's version goes up by one and the commit time
    is stamped.  A read answers ``(value id, version)``.  Operations take effect
    in FIFO order at their service start; the reply leaves at its end.

    Memory stays flat however many writes a run makes: per key the database
    keeps its latest value id and the commit times (and value ids) of at most
    ``2 * history`` recent versions.  Staleness of a value within the last
    ``history`` versions of its key is exact; a value older than what is kept
    is reported as stale by at least the versions kept, since at least the
    oldest kept commit (lower bounds; counted in ``truncated_reads``).

    Args:
        world: the simulation world.
        name: component name.
        node: network node.
        read_service: service time of a read.
        write_service: service time of a write (per item for batch writes).
        connections: commands served in parallel (the rest queue FIFO).
        query_cache: entries of a query cache (0: none); a read it answers costs ``query_cache_service``.
        query_cache_service: service time of a query-cache hit.
        write_error_rate: probability that a write fails (nothing committed, the caller gets ``db_error``).
        queueing: see :class:`~simcache.sim.servers.Server`.
        history: versions per key whose commit times are kept exactly (memory: at most twice that per key).
    """

    def __init__(self, world: World, name: str, node: str, read_service: Dist | str | float = "exp:0.002",
                 write_service: Dist | str | float = "exp:0.004", connections: int = 16, query_cache: int = 0,
                 query_cache_service: Dist | str | float = "exp:0.0002", write_error_rate: float = 0.0,
                 queueing: Queueing = "lindley", history: int = 1024) -> None:
        super().__init__(world, name, node, read_service, connections, queueing)
        if not 0.0 <= write_error_rate <= 1.0:
            raise UsageError(f"{name}: write_error_rate must be in [0, 1], got {write_error_rate}")
        if int(history) != history or history < 1:
            raise UsageError(f"{name}: history must be an integer >= 1 (versions per key), got {history!r}")
        self.history_limit = int(history)
        self.write_service = Dist.parse(write_service)
        self._wsvc = self.write_service.sampler(world.rng(f"{name}:write"))
        self.qc_service = Dist.parse(query_cache_service)
        self._qsvc = self.qc_service.sampler(world.rng(f"{name}:qc"))
        self.qc = Cache("lru", query_cache, clock=self.clock) if query_cache else None
        self.write_error_rate = write_error_rate
        self._coin = uniform_sampler(world.rng(f"{name}:errors"))
        #: key -> its recent commits
        self.history: dict[Any, KeyHistory] = {}
        #: key -> value id of its latest committed version
        self.latest_wid: dict[Any, int] = {}
        self.truncated_reads = 0
        self.reads = 0
        self.writes = 0
        self.write_errors = 0
        self._kind = 0  # 0 read, 1 query-cache hit, 2 write (items in self._n)
        self._n = 1

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(reads=self.reads, writes=self.writes, write_errors=self.write_errors)
        if self.qc is not None:
            d.update(qc_hits=self.qc.stats.hits, qc_misses=self.qc.stats.misses)
        return d

    # --------------------------------------------------------------- state
    def version(self, key: Any) -> int:
        """The latest committed version of ``key`` (commits stamped up to now)."""
        h = self.history.get(key)
        return 0 if h is None else h.base + bisect_right(h.times, self.world.env.now)

    def commit(self, key: Any, wid: int, t: float) -> int:
        """Commit value ``wid`` for ``key`` at time ``t``; return its version."""
        h = self.history.get(key)
        if h is None:
            h = self.history[key] = KeyHistory()
        times = h.times
        times.append(t)
        v = h.base + len(times)
        h.wids[wid] = v
        self.latest_wid[key] = wid
        self.writes += 1
        if self.qc is not None:
            self.qc.delete(key)
        k = self.history_limit
        if len(times) > 2 * k and times[k - 1] <= self.world.env._now:
            # forget the oldest k versions (all committed already, so counts up to now stay exact)
            h.base += k
            del times[:k]
            base = h.base
            h.wids = {w: ver for w, ver in h.wids.items() if ver > base}
        return v

    def read_value(self, key: Any) -> tuple[int, int]:
        """(value id, version) of the key's latest value."""
        h = self.history.get(key)
        return (self.latest_wid[key], h.latest) if h is not None else (0, 0)

    def classify(self, key: Any, wid: int, now: float, version: int | None = None) -> tuple[int, float, bool]:
        """How a read that returned value ``wid`` of ``key`` at ``now`` compares with the truth.

        Returns (versions behind, seconds since the first newer version
        committed, dirty) -- dirty when ``wid`` was not committed at ``now``.

        Args:
            key, wid, now: the key, the value id served, the time it was served.
            version: the version the serving tier holds for it, when known (>= 0:
                a committed version; -1: written to a cache before the database
                committed it; None: look it up by value id).
        """
        h = self.history.get(key)
        if h is None:
            # never written: only value id 0 (version 0) was ever committed
            return 0, 0.0, (wid != 0) if version is None or version < 0 else False
        times = h.times
        base = h.base
        if version is not None and version >= 0:
            v = version
        elif wid == 0:
            v = 0
        else:
            got = h.wids.get(wid)
            if got is None:
                if base == 0 or version is not None:
                    return 0, 0.0, True  # never committed (as far as the kept history goes)
                # a committed value older than the kept history: at least this stale
                self.truncated_reads += 1
                latest = base + bisect_right(times, now)
                return max(latest - base, 1), (now - times[0] if times[0] <= now else 0.0), False
            v = got
        if v > base and times[v - base - 1] > now:
            return 0, 0.0, True  # its commit is stamped later than the read
        latest = base + bisect_right(times, now)
        if latest <= v:
            return 0, 0.0, False
        if v < base:
            # the first newer version is forgotten; it committed no later than the oldest one kept
            self.truncated_reads += 1
            return latest - v, now - times[0], False
        return latest - v, now - times[v - base], False

    # ----------------------------------------------------------- commands
    def execute(self, req: Request) -> Any:
        op = req.opcode
        if op == "read":
            self.reads += 1
            self._kind = 0
            if self.qc is not None:
                if self.qc.get(req.key) is not None:
                    self._kind = 1
                else:
                    self.qc.set(req.key, None, 1)
            return self.read_value(req.key)
        if op == "write":
            self._kind, self._n = 2, 1
            if self.write_error_rate and self._coin() < self.write_error_rate:
                self.write_errors += 1
                req.err = "db_error"
                return None
            return self.commit(req.key, req.wid, self._t)
        if op == "batch_write":
            self._kind, self._n = 2, max(1, len(req.items))
            return [self.commit(key, wid, self._t) for key, wid in req.items]
        raise UsageError(f"{self.name}: unknown command {op!r}")

    def service_time(self, req: Request) -> float:
        if self._kind == 0:
            return self._svc()
        if self._kind == 1:
            return self._qsvc()
        return sum(self._wsvc() for _ in range(self._n))
