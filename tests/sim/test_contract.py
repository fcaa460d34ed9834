"""The failure contract, case by case, with fixed schedules and exact expected outcomes.

Every world here uses constant latencies and service times, so each expected
time is worked out by hand in the comment beside it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from simcache.sim.database import Database, DatabaseClient
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.rpc import ConnectionError, TimeoutError
from simcache.sim.world import World

LAT = 1.0  # one-way latency app <-> redis
SVC = 1.0  # service time of every command


def world(queueing: str = "fast", workers: int = 1) -> tuple[World, RedisServer]:
    w = World(0)
    w.network.add_link("app", "redis", f"const:{LAT}")
    srv = RedisServer(w, "redis", service=f"const:{SVC}", active_expiry=False, queueing=queueing)  # type: ignore[arg-type]
    return w, srv


def run_calls(w: World, r: Redis, calls: list[tuple[float, Any]]) -> list[tuple[float, Any]]:
    """Start each ``(t, fn)`` at time t, where ``fn(r)`` is a command generator; return ``(t_end, outcome)``."""
    out: list[tuple[float, Any]] = [(-1.0, None)] * len(calls)

    def one(i: int, t: float, fn: Any) -> Generator[simpy.Event, Any, None]:
        yield w.env.timeout(t)
        try:
            v = yield from fn(r)
        except (ConnectionError, TimeoutError) as err:
            v = type(err).__name__
        out[i] = (w.env.now, v)

    for i, (t, fn) in enumerate(calls):
        w.process(one(i, t, fn))
    return out


def at(w: World, t: float, fn: Any) -> None:
    def go() -> Generator[simpy.Event, Any, None]:
        yield w.env.timeout(t)
        fn()

    w.process(go())


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_queued_commands_never_apply_after_a_crash_and_callers_are_reset(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv, socket_timeout=10)
    # all three arrive at 1; k1 starts at 1 (in service until 2), k2 and k3 queue behind it
    out = run_calls(w, r, [(0.0, lambda r: r.set("k1", "v")), (0.0, lambda r: r.set("k2", "v")),
                           (0.0, lambda r: r.set("k3", "v"))])
    at(w, 1.5, lambda: srv.crash(warm=True))
    at(w, 3.0, srv.restart)
    w.run(20)
    # the resets leave at the crash (1.5) and arrive one latency later
    assert out == [(2.5, "ConnectionError")] * 3
    # k1 took effect when its service started; the queued SETs never did
    assert set(srv.data) == {b"k1"}
    assert srv.resets == 3


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_a_crashed_host_is_silent_so_callers_wait_for_their_timeout(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv, socket_timeout=5)
    out = run_calls(w, r, [(0.0, lambda r: r.set("k1", "v")), (2.0, lambda r: r.get("k1"))])
    at(w, 1.5, lambda: srv.crash(host_down=True))
    w.run(20)
    assert out == [(5.0, "TimeoutError"), (7.0, "TimeoutError")]


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_a_crashed_process_on_a_live_host_refuses_new_calls(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv, socket_timeout=5)
    out = run_calls(w, r, [(2.0, lambda r: r.get("k"))])
    at(w, 0.5, srv.crash)
    w.run(20)
    assert out == [(4.0, "ConnectionError")]  # reaches the dead port at 3, refused back by 4
    assert srv.refused == 1


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_a_reply_that_has_left_is_delivered_despite_the_crash(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv, socket_timeout=10)
    out = run_calls(w, r, [(0.0, lambda r: r.set("k", "v"))])
    at(w, 2.5, srv.crash)  # the reply left at 2 and is on the wire
    w.run(20)
    assert out == [(3.0, True)]


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_messages_in_flight_across_a_cut_are_lost(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv, socket_timeout=5)
    # sent at 0 (in flight until 1, cut at 0.5): lost; sent at 1 (during the cut): lost; sent at 2: served
    out = run_calls(w, r, [(0.0, lambda r: r.set("a", "1")), (1.0, lambda r: r.set("b", "1")),
                           (2.0, lambda r: r.set("c", "1"))])

    def cut() -> None:
        c = w.network.partition(["app"], ["redis"])
        at(w, 1.5 - w.now, lambda: w.network.heal(c))

    at(w, 0.5, cut)
    w.run(20)
    assert out == [(5.0, "TimeoutError"), (6.0, "TimeoutError"), (5.0, True)]
    assert set(srv.data) == {b"c"}


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_a_reply_cut_in_flight_is_lost_though_the_command_ran(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv, socket_timeout=5)
    out = run_calls(w, r, [(0.0, lambda r: r.set("k", "v"))])
    at(w, 2.2, lambda: w.network.partition(["app"], ["redis"]))  # the reply left at 2, due at 3
    w.run(20)
    assert out == [(5.0, "TimeoutError")]
    assert b"k" in srv.data


def test_a_partition_is_never_routed_around_but_a_failed_link_is() -> None:
    w = World(0)
    net = w.network
    net.add_link("app", "redis", "const:1")
    net.add_link("app", "db", "const:2")
    net.add_link("db", "redis", "const:3")
    assert net.transit("app", "redis") == 1.0
    cut = net.partition(["app"], ["redis"])
    assert net.transit("app", "redis") is None  # not via db
    assert net.transit("app", "db") == 2.0
    net.heal(cut)
    net.set_link("app", "redis", up=False)
    assert net.transit("app", "redis") == 5.0  # a cable cut: app -> db -> redis
    cut = net.partition(["app", "db"], ["redis"])
    assert net.transit("app", "redis") is None


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_a_client_timeout_abandons_the_wait_not_the_command(queueing: str) -> None:
    w = World(0)
    w.network.add_link("app", "db", "const:2")
    db = Database(w, "db", read_service="const:1", write_service="const:1", queueing=queueing)  # type: ignore[arg-type]
    d = DatabaseClient(w, "app", db, timeout=1.0)
    out: list[Any] = []

    def writer() -> Generator[simpy.Event, Any, None]:
        try:
            yield from d.set("k", Value(w.new_write_id()))
        except TimeoutError:
            out.append(("timeout", w.now))

    w.process(writer())
    w.run(10)
    assert out == [("timeout", 1.0)]
    # the write reached the database at 2 and committed then
    assert db.data["k"].wid == 1 and w.oracle.latest("k") == 1
    assert w.oracle.version_at("k", 1.99) == 0 and w.oracle.version_at("k", 2.0) == 1


def test_a_late_commit_of_an_abandoned_write_is_counted() -> None:
    w = World(0)
    w.network.add_link("app", "db", "const:2")
    db = Database(w, "db", write_service="const:1")
    d = DatabaseClient(w, "app", db, timeout=1.0)

    def writer() -> Generator[simpy.Event, Any, None]:
        v = Value(w.new_write_id())
        try:
            yield from d.set("k", v)
        except TimeoutError:
            w.oracle.abandoned(v.wid)

    w.process(writer())
    w.run(10)
    assert w.oracle.late_commits == 1


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_a_pause_stops_service_and_everything_else_goes_on(queueing: str) -> None:
    w = World(0)
    w.network.add_link("app", "redis", "const:0.5")
    w.network.add_link("app", "other", "const:0.5")
    srv = RedisServer(w, "redis", service="const:1", active_expiry=False, queueing=queueing)  # type: ignore[arg-type]
    other = RedisServer(w, "other", service="const:1", active_expiry=False, queueing=queueing)  # type: ignore[arg-type]
    r, o = Redis(w, "app", srv), Redis(w, "app", other)
    # k1: arrives 0.5, in service until 1.5, but a pause at 1.0 for 2 s pushes its end to 3.5 (reply at 4.0)
    # k2: arrives 1.5 during the pause, starts at 3.5, ends 4.5 (reply at 5.0); the other server is unaffected
    out = run_calls(w, r, [(0.0, lambda r: r.set("k1", "v")), (1.0, lambda r: r.set("k2", "v"))])
    out2 = run_calls(w, o, [(1.0, lambda r: r.set("x", "v"))])
    at(w, 1.0, lambda: srv.pause(2.0))
    w.run(20)
    assert out == [(4.0, True), (5.0, True)]
    assert out2 == [(3.0, True)]


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_run_time_changes_apply_to_what_is_sent_after(queueing: str) -> None:
    w, srv = world(queueing)
    r = Redis(w, "app", srv)
    out = run_calls(w, r, [(0.0, lambda r: r.ping()), (0.6, lambda r: r.ping()), (10.0, lambda r: r.ping())])

    def change() -> None:
        w.network.set_link("app", "redis", latency="const:3")  # the first ping is already on its way
        srv.set_service("const:2")

    at(w, 0.5, change)
    at(w, 9.0, lambda: w.network.set_link("app", "redis", extra=1.0))
    w.run(40)
    # first: 1 out (old latency), 1 service (it started at 1, after the change: the new service time 2 applies)
    # second: sent 0.6 at latency 3 -> 3.6, service 2 -> 5.6, back 3 -> 8.6
    # third: sent at 10 with extra 1 -> 14, service 2 -> 16, back 4 -> 20
    assert out == [(6.0, True), (8.6, True), (20.0, True)]


def test_loss_drops_messages_and_has_its_own_stream() -> None:
    def draws(loss: float) -> tuple[list[float], int]:
        w = World(3)
        w.network.add_link("a", "b", "exp:1")
        lk = w.network.link("a", "b")
        lk.loss = loss
        ds = [w.network.transit("a", "b") for _ in range(2000)]
        return [d for d in ds if d is not None], sum(d is None for d in ds)

    kept0, lost0 = draws(0.0)
    kept, lost = draws(0.3)
    assert lost0 == 0 and 500 < lost < 700  # Binomial(2000, 0.3): mean 600, sd 20
    # a lost message draws no latency: the survivors' delays are the lossless run's first draws, in order
    assert kept == kept0[: len(kept)]
