"""The seed's RedisLock run as written, its flaws counted under hand-worked schedules, and the fixes beside it.

Unless a test says otherwise: every link 1 ms one way, Redis and the store serve in 0 s, so a round trip is
2 ms and a busy-wait iteration (SET, reply, 1 ms sleep) is 3 ms.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from simcache.catalog import run_model
from simcache.errors import UsageError
from simcache.sim import faults
from simcache.sim.locks import (
    FENCED_ACQUIRE_LUA,
    SEED_RELEASE_LUA,
    ClockedRedisServer,
    FencedLock,
    HoldMonitor,
    Host,
    ProtectedStore,
    RedisLock,
    Redlock,
    StoreClient,
    busy,
    critical_section,
    lock_figure,
)
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.simtime import HostClock
from simcache.sim.world import World
from tests.sim.redis.conftest import real_redis, reset_real  # noqa: F401 (the fixture is used by name)

Gen = Generator[simpy.Event, Any, Any]


class Rig:
    """Hosts a and b, one Redis, the protected store and the hold monitor."""

    def __init__(self, latency: str = "const:0.001", hosts: tuple[str, ...] = ("a", "b")) -> None:
        self.w = w = World(0)
        self.srv = RedisServer(w, "redis", service="const:0", active_expiry=False)
        self.store = ProtectedStore(w, "store", service="const:0")
        self.monitor = HoldMonitor(w)
        self.hosts: dict[str, Host] = {}
        self.outcome: dict[str, tuple[float, str]] = {}
        for name in hosts:
            self.hosts[name] = Host(w, name)
            w.network.add_link(name, "redis", latency)
            w.network.add_link(name, "store", latency)

    def lock(self, name: str, cls: type[RedisLock] = RedisLock, timeout: int = 1) -> RedisLock:
        h = self.hosts[name]
        return cls(Redis(self.w, h, self.srv), "lock", timeout, clock=h.clock, rng=self.w.rng(f"{name}:lock"))

    def section(self, name: str, at: float, cls: type[RedisLock] = RedisLock, work: float = 0.01,
                pause: float = 0.0, timeout: int = 1) -> None:
        """At ``at``, host ``name`` runs one critical section; its (end time, outcome) goes to :attr:`outcome`."""
        h = self.hosts[name]

        def go() -> Gen:
            yield self.w.env.timeout(at)
            res = yield from critical_section(self.lock(name, cls, timeout), h, StoreClient(self.w, h, self.store),
                                              self.monitor, name, work=work, pause=pause)
            self.outcome[name] = (self.w.env.now, res)

        h.spawn(go())


def test_the_seed_lock_sets_nx_ex_and_releases_only_its_own_lock() -> None:
    rig = Rig()
    w, srv = rig.w, rig.srv
    mine, theirs = rig.lock("a", timeout=10), rig.lock("b", timeout=10)
    log: list[Any] = []

    def go() -> Gen:
        log.append((yield from mine.acquire()))
        log.append(srv.data[b"lock"].value == mine.identifier.encode())
        log.append(srv.expires.get(b"lock"))  # EX 10 from the SET's start at 1 ms: 10 001 ms
        yield from theirs.release()  # not theirs: the script leaves it
        log.append(b"lock" in srv.data)
        yield from mine.release()
        log.append(b"lock" in srv.data)

    w.process(go())
    w.run(1)
    assert log == [True, True, 10_001, True, False]
    assert [body for _, body in srv.scripts.values()] == [SEED_RELEASE_LUA.encode()]  # the seed's text, byte for byte


def test_acquire_gives_up_after_timeout_seconds_of_one_millisecond_polls() -> None:
    rig = Rig()
    w, srv = rig.w, rig.srv
    srv.dispatch((b"SET", b"lock", b"someone", b"EX", b"100"))
    lock = rig.lock("a", timeout=1)
    got: list[Any] = []

    def go() -> Gen:
        got.append((yield from lock.acquire()))
        got.append(w.env.now)

    w.process(go())
    w.run(2)
    # one attempt every 3 ms from 0: the loop tests clock.time() < 1.0 before each; the attempt starting at
    # 0.999 is the 334th, and the loop ends when its sleep ends at 1.002
    assert got[0] is False
    assert got[1] == pytest.approx(1.002)
    assert srv.commands_done == 334  # (the SET put in place directly is not a served command)


@pytest.mark.parametrize("how", ["gc", "fault"])
def test_a_pause_longer_than_the_timeout_gives_two_holders_and_a_lost_update(how: str) -> None:
    rig = Rig()
    # a: SET at 1 ms (the lock expires after mstime 1001), READ back at 4 ms, then stops for 2 s inside its
    # critical section and works 10 ms: its WRITE reaches the store at 2.015
    if how == "gc":
        rig.section("a", 0.0, pause=2.0)
    else:
        rig.section("a", 0.0)
        faults.schedule(rig.w, ["pause:a@0.004+2"])
    # b polls from 0.1: its SETs reach Redis at 0.101 + 0.003k; the first after the expiry (k = 301, at 1.004)
    # succeeds; b reads version 0 at 1.006, writes at 1.018 (version 1), releases by 1.021
    rig.section("b", 0.1)
    rig.w.run(5)
    store, mon = rig.store, rig.monitor
    assert mon.double_holds == 1
    assert mon.overlap == pytest.approx(1.019 - 1.005)  # b held from 1.005 to 1.019, a throughout
    assert [(h, o) for _, _, h, _, o in store.history] == [("b", "ok"), ("a", "corrupted")]
    assert store.corrupted_writes == 1 and store.rejected_writes == 0
    assert store.values["counter"] == (1, 2)  # two increments, one lost: the counter says 1
    assert rig.outcome["a"] == (pytest.approx(2.018), "ok")  # a never noticed
    assert rig.srv.commands_done == 2 + 302 + 1  # a: SET, EVAL; b: 302 SETs, EVAL
    assert b"lock" not in rig.srv.data  # a's release found b's lock gone (b had released) and deleted nothing


def test_fencing_tokens_make_the_store_refuse_the_late_holders_write() -> None:
    rig = Rig()
    rig.section("a", 0.0, cls=FencedLock, pause=2.0)
    rig.section("b", 0.1, cls=FencedLock)
    rig.w.run(5)
    store = rig.store
    assert rig.monitor.double_holds == 1  # the lease still expired under a...
    # ...but b's token (2) reached the store first, so a's write with token 1 is refused
    assert [(h, t, o) for _, _, h, t, o in store.history] == [("b", 2, "ok"), ("a", 1, "refused")]
    assert store.corrupted_writes == 0 and store.rejected_writes == 1
    assert store.values["counter"] == (1, 1)
    assert rig.outcome == {"b": (pytest.approx(1.021), "ok"), "a": (pytest.approx(2.018), "refused")}
    assert rig.srv.data[b"lock:fence"].value == b"2"


def test_a_pause_shorter_than_the_timeout_is_harmless() -> None:
    rig = Rig()
    rig.section("a", 0.0, pause=0.5)
    rig.section("b", 0.1)
    rig.w.run(5)
    assert rig.monitor.double_holds == 0
    assert rig.store.corrupted_writes == 0 and rig.store.values["counter"] == (2, 2)


@pytest.mark.parametrize(("latency", "per_waiter"), [("const:0", 51), ("const:0.00025", 34)])
def test_the_busy_wait_costs_each_waiter_one_set_per_millisecond_plus_a_round_trip(latency: str,
                                                                                    per_waiter: int) -> None:
    rig = Rig(latency, hosts=tuple(f"c{i}" for i in range(5)))
    for name in rig.hosts:
        rig.section(name, 0.0, work=10.0, timeout=10)  # c0 wins at 0 and holds for 10 s
    rig.w.run(0.0505)
    # each waiter's SETs reach Redis at k * (1 ms + RTT) + one way, k = 0, 1, ...: 51 by 50.5 ms with no
    # latency, 34 with a 0.5 ms round trip (0.25 + 1.5k ms <= 50.5)
    assert rig.monitor.acquisitions == 1
    assert rig.srv.commands_done == 1 + 4 * per_waiter
    # 4 waiters: about 4000 SET/s on an idle network, 2667/s with a 0.5 ms round trip
    rate = 4 * per_waiter / 0.0505
    assert rate == pytest.approx(4 * 1000 / (1 + (0.0 if latency == "const:0" else 0.5)), rel=0.05)


def test_busy_work_is_lengthened_by_a_pause_of_its_host() -> None:
    w = World(0)
    h = Host(w, "h")
    ends: list[float] = []

    def go() -> Gen:
        yield from busy(h, 1.0)
        ends.append(w.env.now)

    w.process(go())
    faults.schedule(w, ["pause:h@0.5+2", "pause:h@2.8+0.1"])
    w.run(10)
    assert ends == [pytest.approx(3.1)]  # 1 s of work, 2 s of pause inside it, then 0.1 s more


# ------------------------------------------------------------------ Redlock
def redlock_rig(drift: float = 0.0) -> tuple[World, list[ClockedRedisServer], dict[str, Host], HoldMonitor,
                                              ProtectedStore]:
    w = World(0)
    nodes = [ClockedRedisServer(w, f"r{i}", clock=HostClock(w.env, drift=drift, epoch=0.0), service="const:0",
                                active_expiry=False) for i in range(5)]
    store = ProtectedStore(w, "store", service="const:0")
    hosts = {n: Host(w, n) for n in ("a", "b")}
    for h in hosts.values():
        for n in [*(s.name for s in nodes), "store"]:
            w.network.add_link(h.node, n, "const:0.001")
    return w, nodes, hosts, HoldMonitor(w), store


def redlock_section(w: World, nodes: list[ClockedRedisServer], h: Host, mon: HoldMonitor, store: ProtectedStore,
                    at: float, work: float, timeout: float, log: dict[str, Any]) -> None:
    def go() -> Gen:
        yield w.env.timeout(at)
        lock = Redlock([Redis(w, h, s, socket_timeout=0.05) for s in nodes], "lock", 1.0, clock=h.clock,
                       rng=w.rng(f"{h.name}:lock"), timeout=timeout, retry_delay=0.02)
        log[h.name] = yield from critical_section(lock, h, StoreClient(w, h, store), mon, h.name, work=work)
        log[h.name + ":validity"] = lock.validity

    h.spawn(go())


@pytest.mark.parametrize(("jump", "double_holds"), [(0.0, 0), (1.0, 1)])
def test_redlock_two_majorities_when_a_node_clock_jumps(jump: float, double_holds: int) -> None:
    w, nodes, hosts, mon, store = redlock_rig()
    log: dict[str, Any] = {}
    # a cannot reach r3, r4 while it acquires: it gets r0, r1, r2 (a majority) by 6 ms, then waits out two
    # 50 ms socket timeouts; elapsed 106 ms, validity 1 - 0.106 - 0.012 = 0.882 s; it then works 0.5 s
    faults.schedule(w, ["partition:a|r3,r4@0+0.2"])
    redlock_section(w, nodes, hosts["a"], mon, store, 0.0, 0.5, 1.0, log)

    def step() -> Gen:
        yield w.env.timeout(0.3)
        nodes[2].clock.offset += jump  # r2's clock jumps: a's lock there (PX 1000 from 5 ms) is gone

    w.process(step())
    # b tries from 0.4 for 0.15 s (a holds until about 0.61): r0, r1 refuse; with the jump r2, r3, r4 say yes
    redlock_section(w, nodes, hosts["b"], mon, store, 0.4, 0.01, 0.15, log)
    w.run(3)
    assert log["a:validity"] == pytest.approx(0.882)
    assert mon.double_holds == double_holds
    assert log["b"] == ("ok" if jump else "timeout")
    assert store.corrupted_writes == double_holds


@pytest.mark.parametrize(("drift", "double_holds"), [(0.0, 0), (0.2, 1)])
def test_redlock_validity_does_not_cover_node_clocks_faster_than_its_drift_allowance(drift: float,
                                                                                      double_holds: int) -> None:
    w, nodes, hosts, mon, store = redlock_rig(drift)
    log: dict[str, Any] = {}
    # a takes all five nodes by 10 ms (validity 1 - 0.010 - 0.012 = 0.978 s) and works 0.9 s, inside it; nodes
    # whose clocks run 20 % fast expire its PX 1000 after 1/1.2 = 0.833 s of true time, and b, polling from 0.5,
    # gets all five before a is done
    redlock_section(w, nodes, hosts["a"], mon, store, 0.0, 0.9, 1.0, log)
    redlock_section(w, nodes, hosts["b"], mon, store, 0.5, 0.01, 2.0, log)
    w.run(5)
    assert log["a:validity"] == pytest.approx(0.978)
    assert mon.double_holds == double_holds
    a_end = next(end for who, _, end in mon.intervals if who == "a")
    b_start = next(start for who, start, _ in mon.intervals if who == "b")
    assert a_end < log["a:validity"]  # a finished within the validity it was promised
    if drift:
        assert 0.833 < b_start < a_end
    else:
        assert b_start > a_end


# -------------------------------------------------------------------- model
def test_lock_model_shows_double_holds_and_fencing_refuses_the_stale_writes() -> None:
    common = {"duration": 10, "contenders": 3, "pause": "exp:0.5", "think": "exp:0.1"}
    seed = run_model("lock", {**common, "lock": "seed"}, seed=1)
    fenced = run_model("lock", {**common, "lock": "fencing"}, seed=1)
    assert seed["double_holds"] > 0 and seed["corrupted_writes"] > 0 and seed["rejected_stale_writes"] == 0
    # the same streams: the same holds, but the store refuses what the seed's lock let through
    assert fenced["double_holds"] == seed["double_holds"]
    assert fenced["corrupted_writes"] == 0 and fenced["rejected_stale_writes"] > 0
    # waiters poll once per ~1.5 ms (1 ms sleep + 0.5 ms round trip)
    assert 600 < seed["commands_per_waiter_s"] < 700
    quiet = run_model("lock", {**common, "pause": "const:0"}, seed=1)
    assert quiet["double_holds"] == 0 and quiet["corrupted_writes"] == 0


def test_lock_model_takes_faults_and_redlock() -> None:
    s = run_model("lock", {"duration": 5, "pause": "const:0", "lock": "redlock", "contenders": 2},
                  faults=["crash:redis0@1+1", "pause:worker0@2+1.5"])
    assert s["faults"] and s["acquisitions"] > 0
    with pytest.raises(UsageError, match="no component 'redis'"):
        run_model("lock", {"duration": 5, "lock": "redlock"}, faults=["crash:redis@1+1"])


@pytest.mark.parametrize(("params", "message"), [
    ({"lock": "mutex"}, "lock must be one of"),
    ({"timeout": 1.5}, "timeout must be whole seconds for lock=seed"),
    ({"contenders": 0}, "contenders must be an integer >= 1"),
    ({"pause": "exp:-1"}, "pause:"),
    ({"drift": 0.7}, "drift must be in"),
])
def test_lock_model_rejects_bad_parameters_with_one_line(params: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        run_model("lock", params)
    assert "\n" not in str(err.value)


def test_lock_figure_is_written(tmp_path: Any) -> None:
    from simcache.catalog import get_model
    from simcache.sim.report import run_model_full

    get_model("lock")
    result = run_model_full("lock", {"duration": 3})
    paths = lock_figure(result, tmp_path)
    assert [p.name for p in paths] == ["lock_timeline.png"] and paths[0].stat().st_size > 0


# ------------------------------------------------- the scripts against real Redis
def test_lock_scripts_match_a_real_redis(real_redis: Any) -> None:  # noqa: F811
    reset_real(real_redis)
    w = World(0)
    srv = RedisServer(w, "redis", active_expiry=False)
    calls: list[tuple[str, int, tuple[bytes, ...]]] = [
        (FENCED_ACQUIRE_LUA, 2, (b"lock", b"lock:fence", b"me", b"10")),
        (FENCED_ACQUIRE_LUA, 2, (b"lock", b"lock:fence", b"you", b"10")),
        (SEED_RELEASE_LUA, 1, (b"lock", b"you")),
        (SEED_RELEASE_LUA, 1, (b"lock", b"me")),
        (FENCED_ACQUIRE_LUA, 2, (b"lock", b"lock:fence", b"you", b"10")),
    ]
    for src, n, args in calls:
        real = real_redis.eval(src, n, *args)
        sim = srv.dispatch((b"EVAL", src.encode(), str(n).encode(), *args))
        assert sim == real, (src, args)
    for key in (b"lock", b"lock:fence"):
        assert srv.dispatch((b"GET", key)) == real_redis.get(key)
