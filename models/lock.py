"""Lock contenders: the seed's RedisLock, fencing tokens, or Redlock, with holders that pause.

``contenders`` workers loop: think, acquire the lock, read-modify-write a
shared counter in the protected store (pausing ``pause`` seconds inside, a
GC pause), release.  A pause longer than the lock's ``timeout`` lets a
second contender in while the first still believes it holds the lock
(``double_holds``); the first's write then overwrites the second's
(``corrupted_writes``, lost updates) unless the store refuses its older
fencing token (``rejected_stale_writes``, lock ``fencing``).  Waiting
contenders poll Redis every millisecond (``redis_commands_per_s``).  Redlock
runs over ``nodes`` Redis masters.  The Redis clocks can drift (``drift``,
all nodes) or jump (``jump`` seconds forward at ``jump_at``, on the first
node), which ends their TTLs early.  Every acquisition made while another
contender still believes it holds the lock counts as one double hold.  Faults name the
components ``worker0``..., ``redis`` (or ``redis0``... for Redlock) and
``store``: ``--fault pause:worker0@5+3``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import simpy

from simcache.catalog import model
from simcache.sim.dists import Dist, check_dists
from simcache.sim.locks import (
    ClockedRedisServer,
    FencedLock,
    HoldMonitor,
    Host,
    ProtectedStore,
    RedisLock,
    Redlock,
    StoreClient,
    critical_section,
    lock_figure,
)
from simcache.sim.redis import Redis
from simcache.sim.report import SimResult
from simcache.sim.rpc import RemoteError
from simcache.sim.runner import System, simulate_system
from simcache.sim.simtime import HostClock
from simcache.sim.world import World

LOCKS = ("seed", "fencing", "redlock")


@dataclass(frozen=True)
class LockParams:
    """Parameters of the lock model (times in seconds; distributions as 'kind:p1,p2')."""

    lock: Literal["seed", "fencing", "redlock"] = "seed"
    contenders: int = 3
    timeout: float = 1.0
    work: str = "const:0.05"
    pause: str = "exp:0.3"
    think: str = "exp:0.1"
    duration: float = 30.0
    nodes: int = 5
    drift: float = 0.0
    jump: float = 0.0
    jump_at: float = 0.0
    retry_delay: float = 0.05
    latency: str = "const:0.00025"
    service: str = "const:0.00002"
    socket_timeout: float = 0.1
    window: float = 1.0
    warmup: float = 0.0

    def __post_init__(self) -> None:
        if self.lock not in LOCKS:
            raise ValueError(f"lock must be one of {', '.join(LOCKS)}, got {self.lock!r}")
        if int(self.contenders) != self.contenders or self.contenders < 1:
            raise ValueError(f"contenders must be an integer >= 1, got {self.contenders!r}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.lock != "redlock" and not float(self.timeout).is_integer():
            raise ValueError(f"timeout must be whole seconds for lock={self.lock} (the seed passes it as SET's EX, "
                             f"which redis-py takes as an int), got {self.timeout!r}")
        for f in ("duration", "window"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f} must be > 0 seconds, got {getattr(self, f)!r}")
        if not 0 <= self.warmup < self.duration:
            raise ValueError(f"warmup must be in [0, duration), got {self.warmup!r}")
        if int(self.nodes) != self.nodes or self.nodes < 1:
            raise ValueError(f"nodes must be an integer >= 1 (Redis masters for redlock), got {self.nodes!r}")
        if not -0.5 < self.drift < 0.5:
            raise ValueError(f"drift must be in (-0.5, 0.5) seconds per second, got {self.drift!r}")
        for f in ("jump", "jump_at", "retry_delay", "socket_timeout"):
            if not getattr(self, f) >= 0:
                raise ValueError(f"{f} must be >= 0 seconds, got {getattr(self, f)!r}")
        check_dists(self, "work", "pause", "think", "latency", "service")


class Contenders:
    """The contenders' loop and counts (the runner reads ``issued`` and ``finished``)."""

    def __init__(self, world: World, p: LockParams, hosts: list[Host], servers: list[ClockedRedisServer],
                 store: ProtectedStore, monitor: HoldMonitor) -> None:
        self.world = world
        self.p = p
        self.hosts = hosts
        self.servers = servers
        self.store = store
        self.monitor = monitor
        self.issued = 0
        self.finished = 0
        self.timeouts = 0
        self.refused = 0
        self.errors = 0
        #: contender-seconds spent inside acquire (true time)
        self.waiting = 0.0
        self._rngs = {h.name: world.rng(f"{h.name}:lock") for h in hosts}
        timeout = p.socket_timeout or None
        self.clients = {h.name: [Redis(world, h, s, socket_timeout=timeout) for s in servers] for h in hosts}
        self.stores = {h.name: StoreClient(world, h, store, timeout=timeout) for h in hosts}

    def make_lock(self, host: Host) -> Any:
        p = self.p
        rng = self._rngs[host.name]
        clients = self.clients[host.name]
        if p.lock == "redlock":
            return Redlock(clients, "lock", p.timeout, clock=host.clock, rng=rng, retry_delay=p.retry_delay)
        cls = FencedLock if p.lock == "fencing" else RedisLock
        return cls(clients[0], "lock", int(p.timeout), clock=host.clock, rng=rng)

    def start(self) -> None:
        w = self.world
        p = self.p
        for h in self.hosts:
            think = Dist.parse(p.think).sampler(w.rng(f"{h.name}:think"))
            work = Dist.parse(p.work).sampler(w.rng(f"{h.name}:work"))
            pause = Dist.parse(p.pause).sampler(w.rng(f"{h.name}:pause"))
            h.run(partial(self.loop, h, think, work, pause))

    def loop(self, host: Host, think: Any, work: Any, pause: Any) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        rec = self.world.recorder
        p = self.p
        while True:
            t = think()
            if env.now + t >= p.duration:
                return
            yield env.timeout(t)
            lock = self.make_lock(host)
            self.issued += 1
            t0 = env.now
            monitor = _Waiting(self, t0)
            try:
                outcome = yield from critical_section(lock, host, self.stores[host.name], monitor, host.name,
                                                      work=work(), pause=pause())
            except RemoteError as err:
                monitor.done()
                self.errors += 1
                rec.request(env.now, env.now - t0, "error", "lock", type(err).__name__)
                continue
            monitor.done()
            if outcome == "timeout":
                self.timeouts += 1
                rec.request(env.now, env.now - t0, "timeout", "lock")
                continue
            self.finished += 1
            if outcome == "refused":
                self.refused += 1
            rec.request(env.now, env.now - t0, "ok", "lock")


class _Waiting:
    """The hold monitor as one critical section sees it, timing how long its acquire waited."""

    def __init__(self, owner: Contenders, t0: float) -> None:
        self.owner = owner
        self.t0 = t0
        self.acquired: float | None = None

    def enter(self, who: str) -> None:
        self.acquired = self.owner.world.env.now
        self.owner.waiting += self.acquired - self.t0
        self.owner.monitor.enter(who)

    def leave(self, who: str) -> None:
        self.owner.monitor.leave(who)

    def done(self) -> None:
        if self.acquired is None:
            self.acquired = self.owner.world.env.now
            self.owner.waiting += self.acquired - self.t0


def build(p: LockParams, seed: int) -> System:
    """Build the system (workers, Redis node(s), the protected store) without running it."""
    world = World(seed, window=p.window, warmup=p.warmup)
    env = world.env
    names = [f"redis{i}" for i in range(p.nodes)] if p.lock == "redlock" else ["redis"]
    servers = [ClockedRedisServer(world, n, clock=HostClock(env, drift=p.drift, epoch=0.0), service=p.service)
               for n in names]
    store = ProtectedStore(world, "store")
    hosts = []
    for i in range(p.contenders):
        h = Host(world, f"worker{i}")
        for n in [*names, "store"]:
            world.network.add_link(h.node, n, p.latency)
        hosts.append(h)
    monitor = HoldMonitor(world)
    contenders = Contenders(world, p, hosts, servers, store, monitor)
    contenders.start()
    if p.jump > 0:
        def jump() -> Generator[simpy.Event, Any, None]:
            if p.jump_at > env.now:
                yield env.timeout(p.jump_at - env.now)
            servers[0].clock.offset += p.jump

        env.process(jump())
    return System(world, [contenders], names + ["store"], None,
                  {"contenders": contenders, "servers": servers, "store": store, "monitor": monitor})


def simulate(p: LockParams, seed: int, faults: list[Any] | None = None, timeseries: bool = True) -> SimResult:
    """Run the model and return its summary (with the lock's fields) and time series."""
    system = build(p, seed)
    result = simulate_system(system, p.duration, faults or [], timeseries)
    c: Contenders = system.parts["contenders"]
    store: ProtectedStore = system.parts["store"]
    world = system.world
    rec = world.recorder
    span = max(p.duration - p.warmup, 1e-12)
    commands = sum(rec.delta(s.name).get("commands", 0.0) for s in system.parts["servers"])
    st = rec.delta(store.name)
    waiting = c.waiting / span
    s = result.summary
    s.update({
        "lock": p.lock,
        "contenders": p.contenders,
        "double_holds": int(rec.total("lock", "double_holds")),
        "overlap_seconds": rec.total("lock", "overlap_seconds"),
        "acquisitions": int(rec.total("lock", "acquisitions")),
        "acquire_timeouts": int(rec.total("client", "timeout")),
        "lock_errors": int(rec.total("client", "error")),
        "writes": int(st.get("writes", 0)),
        "rejected_stale_writes": int(st.get("rejected_writes", 0)),
        "rejected_stale_reads": int(st.get("rejected_reads", 0)),
        "corrupted_writes": int(st.get("corrupted_writes", 0)),
        "redis_commands_per_s": commands / span,
        "waiting_contenders": waiting,
        "commands_per_waiter_s": commands / span / waiting if waiting > 0 else 0.0,
    })
    return result


@model("lock", "contenders for a Redis lock (seed, fencing, redlock) whose holders pause: double holds, "
       "lost updates, busy-wait load", LockParams)
def run(p: LockParams, seed: int, faults: list[Any] | None = None) -> dict[str, Any]:
    return simulate(p, seed, faults, timeseries=False).summary


#: ``simcache run lock --figures DIR``: acquisitions, double holds, refused writes and Redis load over time
figures = lock_figure
