"""Client-side sharding over Memcached: a hash client, servers added or removed, the hit-ratio dip and its recovery.

``servers`` memcached servers (``mc0``...) behind a pymemcache-like
:class:`~simcache.sim.memcached.HashClient` with ``scheme`` = ``ketama``
(twemproxy's continuum), ``modulo`` or ``rendezvous`` (pymemcache's
default).  One client node reads ``rate`` keys per second (Poisson) from
``keys`` keys ranked by Zipf(``alpha``), cache-aside: a miss waits
``db_latency`` (the database) and sets the key.  At ``change_at`` the
layout changes (``change``): ``add`` puts ``count`` new servers in rotation
(empty), ``remove`` takes the last ``count`` out (a planned removal: their
keys are gone from the client's view), ``none`` leaves it.

Summary (on top of the usual): ``hit_ratio_windows`` (per window),
``hit_ratio_before`` (the three windows before the change), ``hit_ratio_dip``
(the worst window after it), ``recovery_s`` (from the change to the first
window back within ``recovery_tolerance`` of the hit ratio before),
``keys_moved_fraction`` (of the key space, exact from the two layouts) and
``requests_moved_fraction`` (weighted by popularity), ``load`` (each
server's share of the requests after the change), ``max_mean_load``, and
``hot_keys`` (the ten most requested keys: their share of the requests, and
the share the server of the hottest key gets).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from simcache.catalog import model
from simcache.sim.dists import check_dists
from simcache.sim.memcached import HashClient, MemcachedServer
from simcache.sim.memcached.hashing import layout_change, make_scheme
from simcache.sim.report import SimResult
from simcache.sim.runner import System, simulate_system
from simcache.sim.world import World
from simcache.workloads import zipf_pmf

Change = Literal["add", "remove", "none"]


@dataclass(frozen=True)
class ShardingParams:
    """Parameters of the sharding model (times in seconds)."""

    duration: float = 60.0
    servers: int = 4
    scheme: Literal["ketama", "modulo", "rendezvous"] = "ketama"
    change: Change = "add"
    count: int = 1
    change_at: float = 20.0
    rate: float = 2000.0
    keys: int = 10000
    alpha: float = 0.9
    db_latency: float = 0.002
    latency: str = "const:0.0005"
    service: str = "exp:0.00005"
    recovery_tolerance: float = 0.01
    window: float = 1.0

    def __post_init__(self) -> None:
        for f in ("duration", "window", "rate"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0, got {getattr(self, f)!r}")
        for f, lo in (("servers", 1), ("count", 1), ("keys", 1)):
            v = getattr(self, f)
            if int(v) != v or v < lo:
                raise ValueError(f"{f} must be an integer >= {lo}, got {v!r}")
        if self.scheme not in ("ketama", "modulo", "rendezvous"):
            raise ValueError(f"scheme must be one of ketama, modulo, rendezvous, got {self.scheme!r}")
        if self.change not in ("add", "remove", "none"):
            raise ValueError(f"change must be one of add, remove, none, got {self.change!r}")
        if self.change == "remove" and self.count >= self.servers:
            raise ValueError(f"count must leave at least one of the {self.servers} servers, got {self.count!r}")
        if not 0 <= self.change_at:
            raise ValueError(f"change_at must be >= 0 seconds (at or after the end: no change), got {self.change_at!r}")
        if not self.alpha >= 0 or not self.db_latency >= 0 or not 0 <= self.recovery_tolerance < 1:
            raise ValueError("alpha and db_latency must be >= 0 and recovery_tolerance in [0, 1)")
        check_dists(self, "latency", "service")


class ShardedReads:
    """Poisson cache-aside reads through the hash client; hits, misses and the serving server per request."""

    def __init__(self, world: World, p: ShardingParams, client: HashClient) -> None:
        self.world = world
        self.p = p
        self.client = client
        self.issued = 0
        self.finished = 0
        self.cdf = np.cumsum(zipf_pmf(p.alpha, p.keys))
        #: (time, key index, server name, hit)
        self.log: list[tuple[float, int, str, bool]] = []
        self._keys = world.rng("client:keys")
        self._arrivals = world.rng("client:arrivals")

    def start(self) -> None:
        self.world.process(self._arrive())

    def _arrive(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            yield env.timeout(float(self._arrivals.exponential(1.0 / self.p.rate)))
            if env.now >= self.p.duration:
                return
            i = int(np.searchsorted(self.cdf, self._keys.random() * self.cdf[-1], side="right"))
            self.world.process(self._read(min(i, self.p.keys - 1)))

    def _read(self, i: int) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        key = f"key:{i}"
        self.issued += 1
        t0 = env.now
        server = self.client.hasher.get_node(key) or ""
        outcome = "ok"
        try:
            value = yield from self.client.get(key)
            hit = value is not None
            if not hit:
                yield env.timeout(self.p.db_latency)
                yield from self.client.set(key, b"x" * 100)
        except Exception:  # noqa: BLE001 - a failed read counts as an error, not a hit
            hit = False
            outcome = "error"
        self.finished += 1
        self.world.recorder.request(env.now, env.now - t0, outcome, "read")
        self.log.append((t0, i, server, hit))


def build(p: ShardingParams, seed: int) -> System:
    """Servers (including the ones to add), the hash client over the initial ones, the reads."""
    w = World(seed=seed, window=p.window)
    total = p.servers + (p.count if p.change == "add" else 0)
    servers = []
    for i in range(total):
        w.network.add_link("client", f"mc{i}", p.latency)
        servers.append(MemcachedServer(w, f"mc{i}", service=p.service))
    hc = HashClient(w, "client", servers[:p.servers], hasher=p.scheme, default_noreply=False)
    reads = ShardedReads(w, p, hc)
    return System(w, [reads], [s.name for s in servers], parts={"servers": servers, "client": hc, "reads": reads})


def simulate(p: ShardingParams, seed: int, faults: list[Any] | None = None) -> SimResult:
    """Run the sharding model and add its summary (see the module docstring)."""
    system = build(p, seed)
    w = system.world
    hc: HashClient = system.parts["client"]
    servers: list[MemcachedServer] = system.parts["servers"]
    reads: ShardedReads = system.parts["reads"]
    before = [s.name for s in servers[:p.servers]]
    if p.change == "add":
        after = before + [s.name for s in servers[p.servers:]]
    elif p.change == "remove":
        after = before[:p.servers - p.count]
    else:
        after = before
    changing = p.change != "none" and p.change_at < p.duration
    if not changing:
        after = before

    def change() -> Generator[simpy.Event, Any, None]:
        yield w.env.timeout(p.change_at)
        if p.change == "add":
            for s in servers[p.servers:]:
                hc.add_server(s)
        elif p.change == "remove":
            for name in before[p.servers - p.count:]:
                hc.hasher.remove_node(name)  # a planned removal: out of rotation for good
        w.recorder.mark(w.env.now, "client", f"servers-{p.change}", ",".join(sorted(set(after) ^ set(before))))

    reads.start()
    if changing:
        w.process(change())
    result = simulate_system(system, p.duration, faults or [])
    s = result.summary
    nwin = int(p.duration / p.window + 0.5)
    hits = np.zeros(nwin)
    total = np.zeros(nwin)
    for t, _i, _srv, hit in reads.log:
        j = min(int(t / p.window), nwin - 1)
        total[j] += 1
        hits[j] += hit
    ratio = np.where(total > 0, hits / np.maximum(total, 1), np.nan)
    s["hit_ratio_windows"] = [None if np.isnan(r) else float(r) for r in ratio]
    c = int(p.change_at / p.window)
    pre = ratio[max(0, c - 3):c]
    base = float(np.nanmean(pre)) if len(pre) and not np.all(np.isnan(pre)) else None
    s["hit_ratio_before"] = base
    post = ratio[c:]
    s["hit_ratio_dip"] = float(np.nanmin(post)) if len(post) else None
    rec = None
    if base is not None:
        for j in range(c, nwin):
            if not np.isnan(ratio[j]) and ratio[j] >= base - p.recovery_tolerance:
                rec = (j + 1) * p.window - p.change_at
                break
    s["recovery_s"] = rec
    names = [f"key:{i}" for i in range(p.keys)]
    lc = layout_change(p.scheme, before, after, names)
    s["keys_moved_fraction"] = lc["moved_fraction"]
    s["ideal_moved_fraction"] = lc["ideal_moved_fraction"]
    h0, h1 = make_scheme(p.scheme, before), make_scheme(p.scheme, after)
    pmf = zipf_pmf(p.alpha, p.keys)
    s["requests_moved_fraction"] = float(sum(pmf[i] for i, k in enumerate(names) if h0.get_node(k) != h1.get_node(k)))
    later = [srv for t, _i, srv, _h in reads.log if t >= p.change_at]
    counts = {n: 0 for n in after}
    for srv in later:
        if srv in counts:
            counts[srv] += 1
    n_later = max(len(later), 1)
    s["load"] = {n: v / n_later for n, v in counts.items()}
    s["max_mean_load"] = max(counts.values()) / (n_later / len(counts)) if counts else None
    top = np.argsort(pmf)[::-1][:10]
    hottest = f"key:{int(top[0])}"
    s["hot_keys"] = {"top10_share": float(pmf[top].sum()), "hottest": hottest,
                     "hottest_share": float(pmf[top[0]]), "hottest_server": h1.get_node(hottest),
                     "hottest_server_load": s["load"].get(h1.get_node(hottest) or "", 0.0)}
    return result


@model("sharding", "Memcached hash client (ketama, modulo, rendezvous): servers added or removed, hit-ratio dip, load",
       ShardingParams)
def run(p: ShardingParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults).summary
